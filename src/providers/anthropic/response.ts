// Anthropic Message → OpenAI chat.completion (providers.md 6.3, 9.1, 9.2).
import type { TokenUsage } from '../../canonical/index.js';
import {
  badResponse,
  type ChatResult,
  completionBody,
  type FinishReason,
  type OpenAIToolCall,
  type ResponseContext,
  tierOf,
  type UpstreamFailure,
} from '../spec/index.js';

const decoder = new TextDecoder();

export function finishFromAnthropic(reason: unknown): FinishReason {
  switch (reason) {
    case 'tool_use':
      return 'tool_calls';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'refusal':
      return 'content_filter';
    default:
      return 'stop'; // end_turn, stop_sequence, pause_turn
  }
}

const n = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0);

/** input_tokens excludes cache reads and writes; thinking tokens are inside output_tokens. */
export function usageFromAnthropic(u: Record<string, unknown> | undefined): TokenUsage | null {
  if (!u || typeof u !== 'object') return null;
  const out = n(u.output_tokens);
  const details = u.output_tokens_details as Record<string, unknown> | null | undefined;
  const thinking = Math.min(out, n(details?.thinking_tokens));
  return {
    tokensInputUncached: n(u.input_tokens) + n(u.cache_creation_input_tokens),
    tokensInputCached: n(u.cache_read_input_tokens),
    tokensOutput: out - thinking,
    tokensReasoning: thinking,
  };
}

interface Message {
  type?: string;
  content?: { type?: string; text?: string; id?: string; name?: string; input?: unknown }[];
  stop_reason?: string;
  usage?: Record<string, unknown>;
}

export function parseMessagesResponse(body: Uint8Array, ctx: ResponseContext): ChatResult | UpstreamFailure {
  let json: Message;
  try {
    json = JSON.parse(decoder.decode(body)) as Message;
  } catch {
    return badResponse('Anthropic sent a message that is not valid JSON');
  }
  if (json?.type !== 'message' || !Array.isArray(json.content))
    return badResponse('Anthropic sent a response that is not a message');
  let text = '';
  const calls: OpenAIToolCall[] = [];
  for (const b of json.content) {
    if (b.type === 'text' && typeof b.text === 'string') text += b.text;
    if (b.type === 'tool_use' && typeof b.id === 'string' && typeof b.name === 'string')
      calls.push({ id: b.id, name: b.name, arguments: JSON.stringify(b.input ?? {}) });
  }
  const usage = usageFromAnthropic(json.usage);
  const finishReason = finishFromAnthropic(json.stop_reason);
  const zero = { tokensInputUncached: 0, tokensInputCached: 0, tokensOutput: 0, tokensReasoning: 0 };
  return {
    body: completionBody(ctx, text, calls, finishReason, usage ?? zero),
    usage,
    finishReason,
    ...tierOf(json.usage?.service_tier),
  };
}
