// Token usage in disjoint buckets, so that nothing is ever priced twice.
// OpenAI counts cached tokens inside prompt_tokens and reasoning tokens inside completion_tokens
// (each provider's response.ts maps its own usage fields); here each token lands in exactly one bucket.

export interface TokenUsage {
  readonly tokensInputUncached: number;
  readonly tokensInputCached: number;
  /** Output tokens that are not reasoning tokens. */
  readonly tokensOutput: number;
  readonly tokensReasoning: number;
}

export const zeroUsage: TokenUsage = Object.freeze({
  tokensInputUncached: 0,
  tokensInputCached: 0,
  tokensOutput: 0,
  tokensReasoning: 0,
});

function count(v: unknown): number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0;
}

/**
 * Normalises an OpenAI `usage` object. Returns null when the value is not a usage object.
 * Counts are clamped into their parents (cached ≤ prompt, reasoning ≤ completion) because an
 * upstream that reports more cached than prompt tokens is wrong, and the buckets must stay disjoint.
 */
export function usageFromOpenAI(usage: unknown): TokenUsage | null {
  if (typeof usage !== 'object' || usage === null) return null;
  const u = usage as Record<string, unknown>;
  const prompt = count(u.prompt_tokens);
  const completion = count(u.completion_tokens);
  const pd = u.prompt_tokens_details as Record<string, unknown> | null | undefined;
  const cd = u.completion_tokens_details as Record<string, unknown> | null | undefined;
  const cached = Math.min(prompt, count(pd?.cached_tokens));
  const reasoning = Math.min(completion, count(cd?.reasoning_tokens));
  return {
    tokensInputUncached: prompt - cached,
    tokensInputCached: cached,
    tokensOutput: completion - reasoning,
    tokensReasoning: reasoning,
  };
}

export function totalTokens(u: TokenUsage): number {
  return u.tokensInputUncached + u.tokensInputCached + u.tokensOutput + u.tokensReasoning;
}

/**
 * An estimate of a chat request's prompt tokens, for a stream the client abandoned before the
 * upstream reported usage: about four characters of text per token (OpenAI's rule of thumb for
 * English), plus 3 tokens per message and 3 for the reply's priming, as OpenAI counts chat
 * framing; an image part counts 85 tokens (a low-detail image). Usage recorded from it is marked
 * inexact.
 */
export function estimatePromptTokens(req: {
  readonly messages: readonly { readonly content?: unknown }[];
}): number {
  let n = 3;
  for (const m of req.messages) {
    n += 3;
    const c = m.content;
    if (typeof c === 'string') n += Math.ceil(c.length / 4);
    else if (Array.isArray(c))
      for (const p of c as { type?: unknown; text?: unknown }[]) {
        if (typeof p?.text === 'string') n += Math.ceil(p.text.length / 4);
        else if (p?.type === 'image_url') n += 85;
      }
  }
  return n;
}
