// Canonical → Gemini generateContent, shared by Vertex AI and the Gemini Developer API
// (https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/inference).
// https://cloud.google.com/vertex-ai/generative-ai/docs/reference/rest/v1/projects.locations.publishers.models/generateContent
import type { ChatRequest } from '../../canonical/index.js';
import { normalizeChat, type Part, resultAsObject, type Unsupported, unsupported } from '../spec/index.js';

/**
 * Gemini 3 returns an opaque `thoughtSignature` with each function call that must come back
 * unchanged in history. OpenAI's history has no slot for it, so it rides in the tool-call id.
 */
export const SIGNATURE_MARK = '~ts~';

export function splitCallId(id: string): { id: string; signature: string | null } {
  const i = id.indexOf(SIGNATURE_MARK);
  return i < 0
    ? { id, signature: null }
    : { id: id.slice(0, i), signature: id.slice(i + SIGNATURE_MARK.length) };
}

const THINKING_BUDGET: Record<string, number> = {
  none: 0,
  minimal: 128,
  low: 1024,
  medium: 8192,
  high: 24_576,
  xhigh: 32_768,
};

function part(p: Part, provider: string): Record<string, unknown> | Unsupported {
  switch (p.type) {
    case 'text':
      return { text: p.text };
    case 'image':
      return { inlineData: { mimeType: p.mediaType, data: p.base64 } };
    case 'image_url':
      return unsupported(p.param, `${provider} needs images inline here: send them as base64 data: URLs.`);
    case 'tool_call': {
      const { id, signature } = splitCallId(p.id);
      return {
        functionCall: { id, name: p.name, args: p.input ?? {} },
        ...(signature ? { thoughtSignature: signature } : {}),
      };
    }
    case 'tool_result':
      return {
        functionResponse: {
          id: splitCallId(p.id).id,
          name: p.name,
          response: resultAsObject(p.content) ?? { content: p.content },
        },
      };
  }
}

export function toGenerateContentBody(
  req: ChatRequest,
  provider: 'vertex' | 'gemini',
): { body: Record<string, unknown>; warnings: string[] } | Unsupported {
  const n = normalizeChat(req, provider);
  if ('unsupported' in n) return n;
  const warnings = n.warnings;
  const contents: Record<string, unknown>[] = [];
  for (const t of n.turns) {
    const parts: Record<string, unknown>[] = [];
    for (const p of t.parts) {
      const x = part(p, provider);
      if ('unsupported' in x) return x as Unsupported;
      parts.push(x);
    }
    contents.push({ role: t.role === 'assistant' ? 'model' : 'user', parts });
  }
  const body: Record<string, unknown> = { contents };
  const system = n.system.filter((s) => s.length > 0);
  if (system.length > 0) body.systemInstruction = { role: 'user', parts: system.map((text) => ({ text })) };
  if (n.tools.length > 0) {
    body.tools = [
      {
        functionDeclarations: n.tools.map((t) => ({
          name: t.name,
          ...(t.description ? { description: t.description } : {}),
          parametersJsonSchema: t.parameters,
        })),
      },
    ];
  }
  const c = n.toolChoice;
  if (c) {
    const mode = c.kind === 'auto' ? 'AUTO' : c.kind === 'none' ? 'NONE' : 'ANY';
    body.toolConfig = {
      functionCallingConfig: { mode, ...(c.kind === 'named' ? { allowedFunctionNames: [c.name] } : {}) },
    };
  }
  if (req.parallel_tool_calls === false)
    warnings.push("ignored 'parallel_tool_calls': Gemini has no such switch");
  const g: Record<string, unknown> = {};
  if (req.temperature != null) g.temperature = req.temperature;
  if (req.top_p != null) g.topP = req.top_p;
  if (n.maxTokens !== null) g.maxOutputTokens = n.maxTokens;
  if (n.stop.length > 0) g.stopSequences = n.stop;
  if (req.seed != null) g.seed = req.seed;
  if (req.presence_penalty != null) g.presencePenalty = req.presence_penalty;
  if (req.frequency_penalty != null) g.frequencyPenalty = req.frequency_penalty;
  const rf = req.response_format;
  if (rf?.type === 'json_object') g.responseMimeType = 'application/json';
  if (rf?.type === 'json_schema') {
    g.responseMimeType = 'application/json';
    g.responseJsonSchema = rf.json_schema.schema ?? {};
  }
  if (req.reasoning_effort != null)
    g.thinkingConfig = { thinkingBudget: THINKING_BUDGET[req.reasoning_effort] };
  body.generationConfig = g;
  if (req.user) warnings.push("ignored 'user': Gemini has no per-request end-user field");
  return { body, warnings };
}
