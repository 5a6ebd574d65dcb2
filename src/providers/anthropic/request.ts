// Canonical → Anthropic Messages (https://docs.anthropic.com/en/api/messages).
// https://docs.anthropic.com/en/api/messages. API version 2026-10-21 removed temperature, top_p
// and top_k: a request carrying them is refused here, as Anthropic would refuse it.
import type { ChatRequest } from '../../canonical/index.js';
import { normalizeChat, type Part, type Unsupported, unsupported } from '../spec/index.js';

export const DEFAULT_MAX_TOKENS = 4096;
export const NEW_API_VERSION = '2026-10-21';

const EFFORT: Record<string, string> = { low: 'low', medium: 'medium', high: 'high', xhigh: 'xhigh' };

function block(p: Part): Record<string, unknown> {
  switch (p.type) {
    case 'text':
      return { type: 'text', text: p.text };
    case 'image':
      return { type: 'image', source: { type: 'base64', media_type: p.mediaType, data: p.base64 } };
    case 'image_url':
      return { type: 'image', source: { type: 'url', url: p.url } };
    case 'tool_call':
      return { type: 'tool_use', id: p.id, name: p.name, input: p.input ?? {} };
    case 'tool_result':
      return { type: 'tool_result', tool_use_id: p.id, content: p.content };
  }
}

/** The Messages body without `model` (hosted variants put the model in the URL). */
export function toMessagesBody(
  req: ChatRequest,
  apiVersion: string,
): { body: Record<string, unknown>; warnings: string[] } | Unsupported {
  const n = normalizeChat(req, 'anthropic');
  if ('unsupported' in n) return n;
  const warnings = n.warnings;
  const newApi = apiVersion === NEW_API_VERSION;
  const body: Record<string, unknown> = { max_tokens: n.maxTokens ?? DEFAULT_MAX_TOKENS };
  if (n.maxTokens === null)
    warnings.push(`max_tokens defaulted to ${DEFAULT_MAX_TOKENS}: Anthropic requires one`);
  const system = n.system.filter((s) => s.length > 0);
  if (system.length > 0) body.system = system.join('\n\n');
  body.messages = n.turns.map((t) => ({ role: t.role, content: t.parts.map(block) }));
  if (n.stop.length > 0) body.stop_sequences = n.stop;
  for (const k of ['temperature', 'top_p'] as const) {
    if (req[k] == null) continue;
    if (newApi) return unsupported(k, `Anthropic API version ${NEW_API_VERSION} removed '${k}'; omit it.`);
    body[k] = req[k];
  }
  if (n.tools.length > 0) {
    body.tools = n.tools.map((t) => ({
      name: t.name,
      ...(t.description ? { description: t.description } : {}),
      input_schema: t.parameters,
    }));
  }
  const c = n.toolChoice;
  const noParallel = req.parallel_tool_calls === false;
  if (c || (noParallel && n.tools.length > 0)) {
    const type =
      !c || c.kind === 'auto' ? 'auto' : c.kind === 'required' ? 'any' : c.kind === 'none' ? 'none' : 'tool';
    body.tool_choice = {
      type,
      ...(c?.kind === 'named' ? { name: c.name } : {}),
      ...(noParallel && type !== 'none' ? { disable_parallel_tool_use: true } : {}),
    };
  }
  const output: Record<string, unknown> = {};
  const rf = req.response_format;
  if (rf?.type === 'json_object')
    return unsupported(
      'response_format',
      "Anthropic has no JSON mode; use response_format type 'json_schema' with a schema.",
    );
  if (rf?.type === 'json_schema')
    output.format = { type: 'json_schema', schema: rf.json_schema.schema ?? {} };
  const effort = req.reasoning_effort;
  if (effort != null) {
    if (EFFORT[effort]) output.effort = EFFORT[effort];
    else if (effort === 'minimal') {
      output.effort = 'low';
      warnings.push("reasoning_effort 'minimal' sent as Anthropic effort 'low', its lowest");
    }
    // 'none': no extended thinking, which is Anthropic's default.
  }
  if (Object.keys(output).length > 0) body.output_config = output;
  for (const k of ['presence_penalty', 'frequency_penalty', 'seed'] as const) {
    if (req[k] != null) warnings.push(`ignored '${k}': Anthropic has no such parameter`);
  }
  if (req.user) body.metadata = { user_id: req.user };
  return { body, warnings };
}
