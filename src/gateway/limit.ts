// Limits, as a stage: before a request goes upstream, its worst case (prompt bound + output bound
// tokens, and that at the dearest price among the deployments it may use) is reserved on every
// rule that counts it, in one atomic step; finish() settles the hold to the actual usage, or
// cancels it. The client sees its headroom in OpenAI's x-ratelimit-* headers, and a refusal as 429
// rate_limited / budget_exceeded naming the rule (or 503 limits_unavailable).
import type { ServerResponse } from 'node:http';
import { type TokenUsage, zeroUsage } from '../canonical/index.js';
import { type GatewayError, gatewayError } from '../errors/index.js';
import { formatMicros, PICO_PER_MICRO, type PriceBooks, priceOf, revenuePicoOf } from '../ledger/index.js';
import { formatReset, type Headroom, type Hold, type LimitRule, type Verdict } from '../limits/index.js';
import type { Admitted } from './admit.js';
import type { GatewayContext } from './context.js';
import type { RequestState } from './request-state.js';

export interface WorstCase {
  readonly tokensIn: number;
  readonly tokensOut: number;
}

/** Reserves the worst case on `rules`; null when admitted (headers set), else the refusal. */
export async function admitLimits(
  gw: GatewayContext,
  res: ServerResponse,
  state: RequestState,
  admitted: Admitted,
  rules: readonly LimitRule[],
  worst: WorstCase,
): Promise<GatewayError | null> {
  const tokens = worst.tokensIn + worst.tokensOut;
  const costMicros = worstCost(gw.priceBooks, admitted, worst, state.startedAtMs);
  const ask = { holdId: state.requestId, nowMs: gw.clock.now(), tokens, costMicros, rules };
  const verdict: Verdict = await gw.limits.limiter.reserve(ask);
  if (verdict.ok) {
    state.hold = verdict.hold;
    setHeadroom(res, verdict.requests, verdict.tokens);
    return null;
  }
  if (verdict.kind === 'unavailable') {
    gw.metrics.limitRefusals.inc({ kind: 'unavailable', rule: '' });
    return gatewayError(
      'limits_unavailable',
      `Limits govern this request and their counters cannot be reached (${verdict.reason}); limits.onRedisDown is fail-closed.`,
      { retryAfterS: 1 },
    );
  }
  gw.metrics.limitRefusals.inc({ kind: verdict.kind, rule: verdict.rule.id });
  setHeadroom(res, verdict.requests, verdict.tokens);
  return refusal(gw, verdict, tokens, costMicros);
}

function setHeadroom(res: ServerResponse, requests: Headroom | null, tokens: Headroom | null): void {
  if (requests) {
    res.setHeader('x-ratelimit-limit-requests', String(requests.limit));
    res.setHeader('x-ratelimit-remaining-requests', String(requests.remaining));
    res.setHeader('x-ratelimit-reset-requests', formatReset(requests.resetMs));
  }
  if (tokens) {
    res.setHeader('x-ratelimit-limit-tokens', String(tokens.limit));
    res.setHeader('x-ratelimit-remaining-tokens', String(tokens.remaining));
    res.setHeader('x-ratelimit-reset-tokens', formatReset(tokens.resetMs));
  }
}

function scopeWords(r: LimitRule): string {
  const parts = [
    r.keyId !== null ? `key '${r.keyId}'` : null,
    r.tenantId !== null ? `tenant '${r.tenantId}'` : null,
    r.model !== null ? `model '${r.model}'` : null,
  ].filter((x) => x !== null);
  return `${parts.join(' × ')} (rule ${r.id.replace(/^rule:/, '')})`;
}

function refusal(
  gw: GatewayContext,
  v: Extract<Verdict, { ok: false; rule: LimitRule }>,
  tokens: number,
  costMicros: bigint,
): GatewayError {
  const r = v.rule;
  const retry = v.retryAfterMs === null ? {} : { retryAfterS: Math.max(1, Math.ceil(v.retryAfterMs / 1000)) };
  const when =
    v.retryAfterMs === null
      ? 'Waiting will not help: this request alone is over the limit.'
      : `Retry after ${retry.retryAfterS} s.`;
  const scope = scopeWords(r);
  switch (v.kind) {
    case 'requests':
      return gatewayError(
        'rate_limited',
        `Rate limit reached for ${scope}: ${r.rpm} requests per minute. ${when}`,
        retry,
      );
    case 'tokens':
      return gatewayError(
        'rate_limited',
        `Rate limit reached for ${scope}: ${r.tpm} tokens per minute; this request reserves ${tokens} (prompt bound + max output tokens). ${v.retryAfterMs === null ? 'Lower max_tokens (or max_completion_tokens).' : when}`,
        retry,
      );
    case 'concurrent':
      return gatewayError(
        'rate_limited',
        `Rate limit reached for ${scope}: ${r.concurrent} requests in flight. ${when}`,
        retry,
      );
    case 'budget': {
      const b = r.budget!;
      const resetAt =
        v.retryAfterMs === null ? null : new Date(gw.clock.now() + v.retryAfterMs).toISOString();
      return gatewayError(
        'budget_exceeded',
        `Budget of ${scope} is ${formatMicros(b.amountMicros)} ${gw.limits.currency} per period; this request's worst case (${formatMicros(costMicros)}) would pass it. ${resetAt ? `The period ends at ${resetAt}.` : 'This request alone costs more than the budget: lower max_tokens.'}`,
        retry,
      );
    }
  }
}

function ceilMicros(pico: bigint): bigint {
  return (pico + PICO_PER_MICRO - 1n) / PICO_PER_MICRO;
}

/** The worst case's cost: every input token at the dearest input price, every output token at the dearest output price. */
function worstCost(books: PriceBooks | null, admitted: Admitted, worst: WorstCase, atMs: number): bigint {
  if (!books) return 0n;
  let max = 0n;
  for (const d of admitted.priced) {
    const p = priceOf(books, admitted.model.name, d.modelVersion, atMs)?.entry;
    if (!p) continue;
    const inPrice = [p.inputUncached, p.inputCached, p.cacheWrite ?? 0n].reduce((a, b) => (a > b ? a : b));
    const outPrice = p.reasoning !== undefined && p.reasoning > p.output ? p.reasoning : p.output;
    const pico = BigInt(worst.tokensIn) * inPrice + BigInt(worst.tokensOut) * outPrice;
    if (pico > max) max = pico;
  }
  return ceilMicros(max);
}

export function tokensOf(u: TokenUsage): number {
  return u.tokensInputUncached + u.tokensInputCached + u.tokensOutput + u.tokensReasoning;
}

/**
 * The request is over: its hold is settled to what it used (a cut stream: what was delivered), or
 * cancelled when nothing was used. Fire and forget: the limiter queues what Redis cannot take now.
 */
export function settleLimits(gw: GatewayContext, state: RequestState): void {
  const hold = state.hold;
  if (!hold) return;
  state.hold = null;
  const u = state.usage ?? zeroUsage;
  endHold(gw, hold, tokensOf(u), tokensOf(u) === 0 ? 0n : actualCost(gw, state, u));
}

/**
 * The one way a hold ends (a request's limits, a pool's reservation): settled to what was used,
 * or cancelled when nothing was (its place in the requests window given back too). Fire and
 * forget: the limiter queues what Redis cannot take now.
 */
export function endHold(gw: GatewayContext, hold: Hold, tokens: number, costMicros: bigint): void {
  const now = gw.clock.now();
  const done =
    tokens === 0
      ? gw.limits.limiter.cancel(hold, now)
      : gw.limits.limiter.settle(hold, { tokens, costMicros }, now);
  if (done)
    done.catch((err: unknown) => gw.logger.error('limit settle failed', { error: (err as Error).message }));
}

function actualCost(gw: GatewayContext, state: RequestState, u: TokenUsage): bigint {
  const d = state.deployment;
  if (!gw.priceBooks || !d || !state.asked) return 0n;
  const p = priceOf(gw.priceBooks, state.asked.model, d.modelVersion, state.startedAtMs);
  return p ? ceilMicros(revenuePicoOf(p.entry, u)) : 0n;
}
