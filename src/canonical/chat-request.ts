// The canonical chat request: the OpenAI Chat Completions request, validated once at the edge.
// Spec: https://platform.openai.com/docs/api-reference/chat/create and
// https://platform.openai.com/docs/api-reference/chat/create. Unknown top-level fields are kept (loose objects)
// so that an OpenAI-family upstream can judge them; adapters for other providers must reject or
// warn about anything they cannot honour.
import { z } from 'zod';

const textPart = z.object({ type: z.literal('text'), text: z.string() });
const imagePart = z.object({
  type: z.literal('image_url'),
  image_url: z.object({
    url: z
      .string()
      .refine((u) => u.startsWith('data:') || u.startsWith('https://') || u.startsWith('http://'), {
        message: 'must be a data: URL or an http(s) URL',
      }),
    detail: z.enum(['auto', 'low', 'high']).optional(),
  }),
});
const audioPart = z.looseObject({
  type: z.literal('input_audio'),
  input_audio: z.looseObject({ data: z.string(), format: z.string() }),
});
const filePart = z.looseObject({ type: z.literal('file'), file: z.looseObject({}) });
const refusalPart = z.object({ type: z.literal('refusal'), refusal: z.string() });

const userContent = z.union([
  z.string(),
  z.array(z.discriminatedUnion('type', [textPart, imagePart, audioPart, filePart])).min(1),
]);
const textContent = z.union([z.string(), z.array(textPart).min(1)]);

const toolCall = z.object({
  id: z.string().min(1),
  type: z.literal('function'),
  function: z.object({ name: z.string().min(1), arguments: z.string() }),
});

const name = z.string().min(1).max(256).optional();

export const chatMessage = z.discriminatedUnion('role', [
  z.looseObject({ role: z.literal('system'), content: textContent, name }),
  z.looseObject({ role: z.literal('developer'), content: textContent, name }),
  z.looseObject({ role: z.literal('user'), content: userContent, name }),
  z.looseObject({
    role: z.literal('assistant'),
    content: z.union([z.string(), z.array(z.union([textPart, refusalPart])), z.null()]).optional(),
    refusal: z.string().nullable().optional(),
    tool_calls: z.array(toolCall).optional(),
    function_call: z.object({ name: z.string(), arguments: z.string() }).nullable().optional(),
    name,
  }),
  z.looseObject({ role: z.literal('tool'), content: textContent, tool_call_id: z.string().min(1) }),
  z.looseObject({ role: z.literal('function'), content: z.string().nullable(), name: z.string().min(1) }),
]);

const functionTool = z.object({
  type: z.literal('function'),
  function: z.object({
    name: z
      .string()
      .regex(/^[a-zA-Z0-9_-]{1,64}$/, 'must be 1-64 characters of a-z, A-Z, 0-9, underscores and dashes'),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().nullable().optional(),
  }),
});

const toolChoice = z.union([
  z.enum(['auto', 'none', 'required']),
  z.object({ type: z.literal('function'), function: z.object({ name: z.string().min(1) }) }),
]);

const responseFormat = z.discriminatedUnion('type', [
  z.object({ type: z.literal('text') }),
  z.object({ type: z.literal('json_object') }),
  z.object({
    type: z.literal('json_schema'),
    json_schema: z.object({
      name: z.string().min(1).max(64),
      description: z.string().optional(),
      schema: z.record(z.string(), z.unknown()).optional(),
      strict: z.boolean().nullable().optional(),
    }),
  }),
]);

const positiveInt = z.number().int().positive();

// commonChatRequest (below) checks the common shape of this schema by hand: a change to a field it
// knows is a change to both (test/chat-request-fast.test.ts fails while they differ).
export const chatRequestSchema = z.looseObject({
  model: z.string().min(1).max(256),
  messages: z.array(chatMessage).min(1),
  stream: z.boolean().nullable().optional(),
  stream_options: z
    .looseObject({ include_usage: z.boolean().optional(), include_obfuscation: z.boolean().optional() })
    .nullable()
    .optional(),
  tools: z.array(functionTool).max(128).optional(),
  tool_choice: toolChoice.optional(),
  parallel_tool_calls: z.boolean().optional(),
  response_format: responseFormat.optional(),
  stop: z.union([z.string(), z.array(z.string()).max(4), z.null()]).optional(),
  max_tokens: positiveInt.nullable().optional(),
  max_completion_tokens: positiveInt.nullable().optional(),
  n: z.number().int().min(1).max(128).nullable().optional(),
  user: z.string().max(512).optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  seed: z.number().int().nullable().optional(),
  logprobs: z.boolean().nullable().optional(),
  top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
  reasoning_effort: z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']).nullable().optional(),
  metadata: z.record(z.string(), z.string()).nullable().optional(),
});

export type ChatRequest = z.infer<typeof chatRequestSchema>;
export type ChatMessage = z.infer<typeof chatMessage>;

export interface RequestValidationFailure {
  readonly param: string;
  readonly message: string;
}

/** Validates a parsed JSON body; returns the request or the first failure, located by path. */
export function parseChatRequest(
  body: unknown,
): { ok: true; value: ChatRequest } | { ok: false; error: RequestValidationFailure } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, error: { param: '', message: 'The request body must be a JSON object.' } };
  }
  const fast = commonChatRequest(body as Record<string, unknown>);
  if (fast !== null) return { ok: true, value: fast };
  const result = chatRequestSchema.safeParse(body);
  if (result.success) return { ok: true, value: result.data };
  const issue = result.error.issues[0]!;
  const param = issue.path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
    .join('')
    .replace(/^\./, '');
  return {
    ok: false,
    error: { param, message: `Invalid value for '${param || 'body'}': ${issue.message}.` },
  };
}

/** The top-level fields the common shape may have, in the schema's order (zod's output order). */
const COMMON_FIELDS = new Set([
  'model',
  'messages',
  'stream',
  'stream_options',
  'max_tokens',
  'max_completion_tokens',
  'user',
  'temperature',
  'top_p',
]);
const COMMON_ROLES = new Set(['system', 'developer', 'user', 'assistant']);

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const nullOr = (v: unknown, ok: (x: unknown) => boolean) => v === null || ok(v);
const inRange = (v: unknown, min: number, max: number) => typeof v === 'number' && v >= min && v <= max;
const isPositiveInt = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

/**
 * The request most clients send (text messages of the four common roles, the common sampling
 * fields), checked by hand, built as chatRequestSchema would build it (the same fields, in the
 * same order, new objects); null for anything else, which the schema then judges. It accepts only
 * what the schema accepts: a request it passes on is one the schema would have passed, and what it
 * is unsure of it leaves to the schema. The schema's walk cost about 9,000 instructions a request
 * (callgrind, bench/instructions-bench.ts); test/chat-request-fast.test.ts holds the two equal.
 */
export function commonChatRequest(body: Record<string, unknown>): ChatRequest | null {
  for (const k in body) if (!COMMON_FIELDS.has(k)) return null;
  const { model, messages, stream, stream_options: options, user } = body;
  if (typeof model !== 'string' || model.length < 1 || model.length > 256) return null;
  if (!Array.isArray(messages) || messages.length === 0) return null;
  // Pushed, not preallocated: `new Array(n)` makes a holey array, which V8 serialises and
  // iterates on a slower path.
  const copied: ChatMessage[] = [];
  for (const item of messages) {
    const m = commonMessage(item);
    if (m === null) return null;
    copied.push(m);
  }
  // Fields are added in the schema's order, as zod's output has them.
  const out: Record<string, unknown> = { model, messages: copied };
  if ('stream' in body) {
    if (!nullOr(stream, (v) => typeof v === 'boolean')) return null;
    out.stream = stream;
  }
  if ('stream_options' in body) {
    if (options === null) out.stream_options = null;
    else {
      if (!isRecord(options)) return null;
      const o: Record<string, boolean> = {};
      for (const k in options) if (k !== 'include_usage' && k !== 'include_obfuscation') return null;
      for (const k of ['include_usage', 'include_obfuscation'] as const)
        if (k in options) {
          if (typeof options[k] !== 'boolean') return null;
          o[k] = options[k];
        }
      out.stream_options = o;
    }
  }
  for (const k of ['max_tokens', 'max_completion_tokens'] as const)
    if (k in body) {
      if (!nullOr(body[k], isPositiveInt)) return null;
      out[k] = body[k];
    }
  if ('user' in body) {
    if (typeof user !== 'string' || user.length > 512) return null;
    out.user = user;
  }
  for (const [k, max] of [
    ['temperature', 2],
    ['top_p', 1],
  ] as const)
    if (k in body) {
      if (!nullOr(body[k], (v) => inRange(v, 0, max))) return null;
      out[k] = body[k];
    }
  return out as ChatRequest;
}

/** A message of role system, developer, user or assistant with text content and maybe a name. */
function commonMessage(m: unknown): ChatMessage | null {
  if (!isRecord(m)) return null;
  for (const k in m) if (k !== 'role' && k !== 'content' && k !== 'name') return null;
  const { role, content, name } = m;
  if (typeof role !== 'string' || !COMMON_ROLES.has(role) || typeof content !== 'string') return null;
  if (!('name' in m)) return { role, content } as ChatMessage;
  if (typeof name !== 'string' || name.length < 1 || name.length > 256) return null;
  return { role, content, name } as ChatMessage;
}
