// The canonical (OpenAI) chat request, taken apart once into the pieces every non-OpenAI
// provider needs: system text, alternating user/assistant turns with typed parts, tools and the
// tool choice (each provider's request.ts links its own reference). What no such provider can honour is refused
// here with the parameter it concerns; fields this gateway does not know become warnings.
import type { ChatMessage, ChatRequest } from '../../canonical/index.js';
import type { Unsupported } from './adapter.js';
import { parseDataUrl, unsupported } from './openai-output.js';

export type Part =
  | { readonly type: 'text'; readonly text: string }
  | { readonly type: 'image'; readonly mediaType: string; readonly base64: string }
  | { readonly type: 'image_url'; readonly url: string; readonly param: string }
  | { readonly type: 'tool_call'; readonly id: string; readonly name: string; readonly input: unknown }
  | { readonly type: 'tool_result'; readonly id: string; readonly name: string; readonly content: string };

export interface Turn {
  readonly role: 'user' | 'assistant';
  readonly parts: Part[];
}

export interface ToolDef {
  readonly name: string;
  readonly description: string | undefined;
  readonly parameters: Record<string, unknown>;
}

export type ToolChoice =
  | { readonly kind: 'auto' }
  | { readonly kind: 'none' }
  | { readonly kind: 'required' }
  | { readonly kind: 'named'; readonly name: string };

export interface NormalizedChat {
  readonly system: readonly string[];
  readonly turns: readonly Turn[];
  readonly tools: readonly ToolDef[];
  readonly toolChoice: ToolChoice | null;
  readonly maxTokens: number | null;
  readonly stop: readonly string[];
  /** True when any turn carries a tool call or a tool result. */
  readonly hasToolHistory: boolean;
  readonly warnings: string[];
}

/** Top-level fields this gateway knows how to translate or judge per provider. */
const KNOWN = new Set([
  'model',
  'messages',
  'stream',
  'stream_options',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'response_format',
  'stop',
  'max_tokens',
  'max_completion_tokens',
  'n',
  'user',
  'temperature',
  'top_p',
  'presence_penalty',
  'frequency_penalty',
  'seed',
  'logprobs',
  'top_logprobs',
  'reasoning_effort',
  'metadata',
  'store',
  'service_tier',
  'prompt_cache_key',
  'safety_identifier',
]);

function textOf(content: string | readonly { type: string; text?: string }[] | null | undefined): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  return content.map((p) => (p.type === 'text' ? (p.text ?? '') : '')).join('');
}

export function normalizeChat(req: ChatRequest, provider: string): NormalizedChat | Unsupported {
  const warnings: string[] = [];
  for (const k of Object.keys(req)) {
    if (!KNOWN.has(k)) warnings.push(`ignored '${k}': not a parameter ${provider} accepts`);
  }
  if (typeof req.n === 'number' && req.n > 1)
    return unsupported('n', `${provider} returns one choice per request; send n: 1 or omit it.`);
  if (req.logprobs === true) return unsupported('logprobs', `${provider} does not return logprobs.`);
  for (const k of ['store', 'service_tier', 'metadata', 'prompt_cache_key', 'safety_identifier'] as const) {
    if (req[k] != null) warnings.push(`ignored '${k}': OpenAI-only`);
  }

  const system: string[] = [];
  const turns: Turn[] = [];
  const toolNames = new Map<string, string>();
  let hasToolHistory = false;
  const push = (role: 'user' | 'assistant', parts: Part[]) => {
    const last = turns[turns.length - 1];
    // Providers need alternating turns: consecutive same-role messages (several tool results,
    // say) are merged into one turn, as Bedrock and Anthropic require.
    if (last && last.role === role) last.parts.push(...parts);
    else turns.push({ role, parts });
  };
  for (let i = 0; i < req.messages.length; i++) {
    const m = req.messages[i] as ChatMessage;
    switch (m.role) {
      case 'system':
      case 'developer':
        system.push(textOf(m.content));
        break;
      case 'user': {
        if (typeof m.content === 'string') {
          push('user', [{ type: 'text', text: m.content }]);
          break;
        }
        const parts: Part[] = [];
        for (let j = 0; j < m.content.length; j++) {
          const p = m.content[j]!;
          if (p.type === 'text') parts.push({ type: 'text', text: p.text });
          else if (p.type === 'image_url') {
            const d = parseDataUrl(p.image_url.url);
            if (d) parts.push({ type: 'image', mediaType: d.mediaType, base64: d.base64 });
            else
              parts.push({
                type: 'image_url',
                url: p.image_url.url,
                param: `messages[${i}].content[${j}].image_url.url`,
              });
          } else {
            return unsupported(
              `messages[${i}].content[${j}]`,
              `${provider} cannot take '${p.type}' content parts through this gateway; send text or images.`,
            );
          }
        }
        push('user', parts);
        break;
      }
      case 'assistant': {
        const parts: Part[] = [];
        const text = Array.isArray(m.content)
          ? m.content.map((p) => (p.type === 'text' ? p.text : '')).join('')
          : (m.content ?? '');
        if (text) parts.push({ type: 'text', text });
        for (let j = 0; j < (m.tool_calls ?? []).length; j++) {
          const c = m.tool_calls![j]!;
          let input: unknown;
          try {
            input = c.function.arguments === '' ? {} : JSON.parse(c.function.arguments);
          } catch {
            return unsupported(
              `messages[${i}].tool_calls[${j}].function.arguments`,
              `${provider} needs tool-call arguments as a JSON object; this one is not valid JSON.`,
            );
          }
          toolNames.set(c.id, c.function.name);
          parts.push({ type: 'tool_call', id: c.id, name: c.function.name, input });
          hasToolHistory = true;
        }
        if (parts.length > 0) push('assistant', parts);
        break;
      }
      case 'tool': {
        const name = toolNames.get(m.tool_call_id);
        if (!name)
          return unsupported(
            `messages[${i}].tool_call_id`,
            `No earlier assistant message has a tool call with id '${m.tool_call_id}'.`,
          );
        push('user', [{ type: 'tool_result', id: m.tool_call_id, name, content: textOf(m.content) }]);
        hasToolHistory = true;
        break;
      }
      case 'function':
        return unsupported(
          `messages[${i}].role`,
          `The deprecated 'function' role cannot be sent to ${provider}; use tool messages.`,
        );
    }
  }
  if (turns.length === 0)
    return unsupported('messages', `${provider} needs at least one user or assistant message.`);

  const tools: ToolDef[] = (req.tools ?? []).map((t) => ({
    name: t.function.name,
    description: t.function.description,
    parameters: t.function.parameters ?? { type: 'object', properties: {} },
  }));
  let toolChoice: ToolChoice | null = null;
  const tc = req.tool_choice;
  if (tc === 'auto' || tc === 'none' || tc === 'required') toolChoice = { kind: tc };
  else if (tc) {
    if (!tools.some((t) => t.name === tc.function.name))
      return unsupported('tool_choice', `tool_choice names '${tc.function.name}', which is not in tools.`);
    toolChoice = { kind: 'named', name: tc.function.name };
  }
  const stop = req.stop == null ? [] : typeof req.stop === 'string' ? [req.stop] : req.stop;
  return {
    system,
    turns,
    tools,
    toolChoice,
    maxTokens: req.max_completion_tokens ?? req.max_tokens ?? null,
    stop,
    hasToolHistory,
    warnings,
  };
}

/** A tool result's text as a JSON object when it is one (Bedrock `json`, Gemini `response`). */
export function resultAsObject(content: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(content) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
