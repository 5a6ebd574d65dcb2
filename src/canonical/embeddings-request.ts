// The canonical embeddings request: OpenAI's POST /v1/embeddings body, validated once at the edge.
// https://platform.openai.com/docs/api-reference/embeddings/create
import { z } from 'zod';

const MAX_INPUTS = 2048;

export const embeddingsRequestSchema = z.looseObject({
  model: z.string().min(1).max(256),
  input: z.union([
    z.string(),
    z.array(z.string()).min(1).max(MAX_INPUTS),
    z.array(z.number().int().min(0)).min(1),
    z
      .array(z.array(z.number().int().min(0)).min(1))
      .min(1)
      .max(MAX_INPUTS),
  ]),
  encoding_format: z.enum(['float', 'base64']).optional(),
  dimensions: z.number().int().positive().max(65_536).optional(),
  user: z.string().max(512).optional(),
});

export type EmbeddingsRequest = z.infer<typeof embeddingsRequestSchema>;

export function parseEmbeddingsRequest(
  body: unknown,
): { ok: true; value: EmbeddingsRequest } | { ok: false; param: string; message: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return { ok: false, param: '', message: 'The request body must be a JSON object.' };
  const r = embeddingsRequestSchema.safeParse(body);
  if (r.success) return { ok: true, value: r.data };
  const issue = r.error.issues[0]!;
  const param = issue.path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
    .join('')
    .replace(/^\./, '');
  return { ok: false, param, message: `Invalid value for '${param || 'body'}': ${issue.message}.` };
}

/** The inputs as texts, or null when they are token arrays (which only OpenAI-family APIs take). */
export function inputTexts(req: EmbeddingsRequest): string[] | null {
  if (typeof req.input === 'string') return [req.input];
  if (req.input.every((x) => typeof x === 'string')) return req.input as string[];
  return null;
}
