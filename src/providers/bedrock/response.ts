// Bedrock Converse response → an OpenAI chat.completion (providers.md 4.3, 9.1, 9.2).
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

export function finishFromBedrock(stopReason: unknown): FinishReason {
  switch (stopReason) {
    case 'tool_use':
      return 'tool_calls';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'content_filtered':
    case 'guardrail_intervened':
      return 'content_filter';
    default:
      // end_turn, stop_sequence; malformed_model_output and malformed_tool_use end the turn too.
      return 'stop';
  }
}

const n = (v: unknown) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0);

/** Converse usage: inputTokens excludes cache reads and writes; reasoning is inside outputTokens. */
export function usageFromBedrock(u: unknown): TokenUsage | null {
  if (typeof u !== 'object' || u === null) return null;
  const x = u as Record<string, unknown>;
  return {
    tokensInputUncached: n(x.inputTokens) + n(x.cacheWriteInputTokens),
    tokensInputCached: n(x.cacheReadInputTokens),
    tokensOutput: n(x.outputTokens),
    tokensReasoning: 0,
  };
}

interface ConverseResponse {
  output?: { message?: { content?: Record<string, unknown>[] } };
  stopReason?: string;
  usage?: unknown;
  serviceTier?: { type?: unknown };
}

export function parseConverseResponse(body: Uint8Array, ctx: ResponseContext): ChatResult | UpstreamFailure {
  let json: ConverseResponse;
  try {
    json = JSON.parse(decoder.decode(body)) as ConverseResponse;
  } catch {
    return badResponse('Bedrock sent a Converse response that is not valid JSON');
  }
  const content = json?.output?.message?.content;
  if (!Array.isArray(content)) return badResponse('Bedrock sent a Converse response without output.message');
  let text = '';
  const calls: OpenAIToolCall[] = [];
  for (const b of content) {
    if (typeof b.text === 'string') text += b.text;
    const t = b.toolUse as { toolUseId?: string; name?: string; input?: unknown } | undefined;
    if (t && typeof t.toolUseId === 'string' && typeof t.name === 'string')
      calls.push({ id: t.toolUseId, name: t.name, arguments: JSON.stringify(t.input ?? {}) });
  }
  const usage = usageFromBedrock(json.usage);
  const finishReason = finishFromBedrock(json.stopReason);
  return {
    body: completionBody(ctx, text, calls, finishReason, usage ?? zero),
    usage,
    finishReason,
    ...tierOf(json.serviceTier?.type),
  };
}

const zero: TokenUsage = {
  tokensInputUncached: 0,
  tokensInputCached: 0,
  tokensOutput: 0,
  tokensReasoning: 0,
};
