// Builds the OpenAI chat.completion bodies and chat.completion.chunk payloads that adapters of
// non-OpenAI providers hand to the client (https://platform.openai.com/docs/api-reference/chat/object and /streaming). The chunk
// prefix is serialised once per stream; each chunk then costs one JSON.stringify of its delta.
import type { TokenUsage } from '../../canonical/index.js';
import type { ResponseContext, UpstreamFailure } from './adapter.js';

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

export interface OpenAIToolCall {
  readonly id: string;
  readonly name: string;
  readonly arguments: string;
}

/** The OpenAI `usage` object for canonical usage: cached ⊂ prompt, reasoning ⊂ completion. */
export function openaiUsage(u: TokenUsage) {
  const prompt = u.tokensInputUncached + u.tokensInputCached;
  const completion = u.tokensOutput + u.tokensReasoning;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: u.tokensInputCached },
    completion_tokens_details: { reasoning_tokens: u.tokensReasoning },
  };
}

export function completionBody(
  ctx: ResponseContext,
  content: string | null,
  toolCalls: readonly OpenAIToolCall[],
  finishReason: FinishReason,
  usage: TokenUsage,
): string {
  return JSON.stringify({
    id: ctx.id,
    object: 'chat.completion',
    created: ctx.created,
    model: ctx.model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: toolCalls.length > 0 && !content ? null : (content ?? ''),
          refusal: null,
          ...(toolCalls.length > 0
            ? {
                tool_calls: toolCalls.map((t) => ({
                  id: t.id,
                  type: 'function',
                  function: { name: t.name, arguments: t.arguments },
                })),
              }
            : {}),
        },
        logprobs: null,
        finish_reason: finishReason,
      },
    ],
    usage: openaiUsage(usage),
  });
}

/** The chat.completion.chunk payloads of one stream, for one choice (index 0). */
export class ChunkWriter {
  readonly #head: string;
  readonly #tail: string;
  readonly #finishTail: string;
  readonly #ctx: ResponseContext;
  readonly #wantsUsage: boolean;

  constructor(ctx: ResponseContext, clientWantsUsage: boolean) {
    this.#ctx = ctx;
    this.#wantsUsage = clientWantsUsage;
    this.#head = `{"id":${JSON.stringify(ctx.id)},"object":"chat.completion.chunk","created":${ctx.created},"model":${JSON.stringify(ctx.model)},"choices":[{"index":0,"delta":`;
    const usageNull = clientWantsUsage ? ',"usage":null' : '';
    this.#tail = `,"logprobs":null,"finish_reason":null}]${usageNull}}`;
    this.#finishTail = `${usageNull}}`;
  }

  role(): string {
    return `${this.#head}{"role":"assistant","content":""}${this.#tail}`;
  }

  text(t: string): string {
    return this.textLiteral(JSON.stringify(t));
  }

  /** A content chunk from the text's JSON string literal as the upstream wrote it (valid, checked). */
  textLiteral(literal: string): string {
    return `${this.#head}{"content":${literal}}${this.#tail}`;
  }

  toolStart(index: number, id: string, name: string, args = ''): string {
    const call = { index, id, type: 'function', function: { name, arguments: args } };
    return `${this.#head}{"tool_calls":[${JSON.stringify(call)}]}${this.#tail}`;
  }

  toolArgs(index: number, fragment: string): string {
    return `${this.#head}{"tool_calls":[{"index":${index},"function":{"arguments":${JSON.stringify(fragment)}}}]}${this.#tail}`;
  }

  finish(reason: FinishReason): string {
    return `${this.#head}{},"logprobs":null,"finish_reason":"${reason}"}]${this.#finishTail}`;
  }

  /** The final usage chunk, for a client that asked for it (none otherwise). */
  usage(u: TokenUsage): string[] {
    if (!this.#wantsUsage) return [];
    const c = this.#ctx;
    return [
      JSON.stringify({
        id: c.id,
        object: 'chat.completion.chunk',
        created: c.created,
        model: c.model,
        choices: [],
        usage: openaiUsage(u),
      }),
    ];
  }
}

export function badResponse(message: string): UpstreamFailure {
  return { kind: 'bad_response', status: 502, message, upstreamCode: null, param: null, retryAfterMs: null };
}

export function streamFailure(
  kind: UpstreamFailure['kind'],
  message: string,
  upstreamCode: string | null,
  status = 502,
): UpstreamFailure {
  return { kind, status, message, upstreamCode, param: null, retryAfterMs: null };
}

/** A data: URL's media type and base64 payload, or null when the URL is not a base64 data URL. */
export function parseDataUrl(url: string): { mediaType: string; base64: string } | null {
  const m = /^data:([a-z0-9.+-]+\/[a-z0-9.+-]+)(?:;[^,;]*)*;base64,(.*)$/is.exec(url);
  return m ? { mediaType: m[1]!.toLowerCase(), base64: m[2]! } : null;
}

export function unsupported(param: string, message: string) {
  return { unsupported: true as const, param, message };
}
