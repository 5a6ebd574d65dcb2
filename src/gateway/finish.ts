// Finishing a request: the one place that decides "request finished". It sends the error (if the
// request ends in one), appends the usage record, counts metrics, ends the spans and writes the
// access-log line. Every path of every handler ends here exactly once.
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { type TokenUsage, zeroUsage } from '../canonical/index.js';
import { gatewayError } from '../errors/index.js';
import { sendError } from '../http/index.js';
import type { Counter } from '../observability/index.js';
import type { Written } from '../spool/index.js';
import { settleCapacity } from './capacity.js';
import type { GatewayContext } from './context.js';
import { settleLimits, tokensOf } from './limit.js';
import { type Ending, errorEnding } from './outcome.js';
import { type Asked, NOOP_SPAN, type RequestState } from './request-state.js';
import { endAttemptSpan } from './spans.js';

export function finish(gw: GatewayContext, res: ServerResponse, state: RequestState, ending: Ending): void {
  if (state.finished) return;
  state.finished = true;
  let status: number;
  let errorCode: string | null;
  let exact = false;
  let deliver: (() => void) | null = null;
  if (ending.kind === 'error') {
    sendError(res, ending.error, state.requestId, ending.upstreamCode ?? undefined);
    status = res.statusCode;
    errorCode = ending.error.code;
  } else if (ending.kind === 'client_gone') {
    status = 499;
    errorCode = 'client_closed';
  } else {
    status = ending.status;
    errorCode = ending.errorCode;
    exact = ending.exact;
    deliver = ending.deliver;
  }
  settleLimits(gw, state);
  if (state.poolHold) settleCapacity(gw, state, tokensOf(state.usage ?? zeroUsage));
  const now = performance.now();
  // The answer is completed only once its record is in the spool; if it cannot be, the client's
  // connection is cut rather than an answer given that no record accounts for.
  const then = deliver ? (ok: boolean) => (ok ? deliver() : res.destroy()) : null;
  appendUsage(gw, state, { status, errorCode, exact, now }, then);
  const asked = state.asked;
  const d = state.deployment;
  const u = state.usage ?? zeroUsage;
  if (gw.config.observability.metrics)
    countMetrics(gw, asked, d?.cloud ?? '', u, status, errorCode, now, state);
  gw.events.onRequestDone?.(status, errorCode);
  if (state.span !== NOOP_SPAN) endSpans(state, status, errorCode);
  if (gw.config.observability.accessLog) accessLog(gw, state, status, errorCode, now);
}

/**
 * A bug (an exception no stage turned into an outcome) ends the request as 500 internal_error,
 * with its usage record like any other ending; a request already finished is left as it was.
 */
export function finishBug(gw: GatewayContext, res: ServerResponse, state: RequestState, err: unknown): void {
  gw.logger.error('request failed with a bug', {
    requestId: state.requestId,
    error: (err as Error).stack ?? String(err),
  });
  if (state.finished) return;
  const streaming = res.headersSent;
  finish(gw, res, state, errorEnding(gatewayError('internal_error')));
  // A stream already under way cannot carry an error status: it is cut, and the client sees it end.
  if (streaming) res.destroy();
}

/** A request that arrives while the server drains: 503 shutting_down, recorded for its tenant. */
export function refuseDraining(gw: GatewayContext, res: ServerResponse, state: RequestState): void {
  res.setHeader('connection', 'close');
  finish(gw, res, state, errorEnding(gatewayError('shutting_down')));
}

interface Ended {
  readonly status: number;
  readonly errorCode: string | null;
  readonly exact: boolean;
  readonly now: number;
}

function appendUsage(gw: GatewayContext, state: RequestState, e: Ended, then: Written | null): void {
  const { status, errorCode, exact, now } = e;
  // Azure spilled it within the resource: the spill-over deployment served (and is billed).
  const d = state.spilledTo ?? state.deployment;
  const u = state.usage ?? zeroUsage;
  gw.usageLog.append(
    {
      requestId: state.requestId,
      tenantId: state.caller.tenantId,
      keyId: state.caller.keyId,
      model: state.asked?.model ?? '',
      modelVersion: d?.modelVersion ?? null,
      cloud: d?.cloud ?? null,
      region: d?.region ?? null,
      upstreamId: d?.upstreamId ?? null,
      deployment: d?.deployment ?? null,
      surface: state.surface,
      stream: state.asked?.stream === true,
      status,
      errorCode,
      usageExact: exact,
      attempts: state.attempts,
      tokensInputUncached: u.tokensInputUncached,
      tokensInputCached: u.tokensInputCached,
      tokensOutput: u.tokensOutput,
      tokensReasoning: u.tokensReasoning,
      startedAtMs: state.startedAtMs,
      latencyMs: now - state.t0,
      overheadUs: state.overheadUs(now),
      ...(state.capacity !== null ? { capacity: state.capacity } : {}),
      ...(state.tier !== null ? { tier: state.tier } : {}),
      ...(state.attemptLog !== null ? { attemptLog: state.attemptLog } : {}),
    },
    then,
  );
}

function endSpans(state: RequestState, status: number, errorCode: string | null): void {
  endAttemptSpan(state, status === 499 ? { kind: 'client_gone' } : SERVED);
  const d = state.deployment;
  state.span
    .set('http.response.status_code', status)
    .set('entente.attempts', state.attempts)
    .set('entente.cloud', d?.cloud)
    .set('error.type', errorCode);
  if (status >= 400 || errorCode) state.span.fail(errorCode ?? `HTTP ${status}`);
  state.span.end();
}

const SERVED = {
  kind: 'served',
  status: 200,
  errorCode: null,
  exact: true,
  healthy: true,
  deliver: null,
} as const;

function accessLog(
  gw: GatewayContext,
  state: RequestState,
  status: number,
  errorCode: string | null,
  now: number,
): void {
  // Ids, route and counts only: no API key, and no prompt unless logPrompts is on.
  // Serialised by hand: the generic path (an object, a spread, JSON.stringify) cost several
  // times more per request, and this line is written for every request. Tenant, key and cloud
  // ids are config ids ([a-z0-9._-]), safe unquoted; free-form strings go through JSON.stringify.
  const q = JSON.stringify;
  const asked = state.asked;
  const d = state.deployment;
  const u = state.usage ?? zeroUsage;
  gw.logger.infoFields(
    'request',
    `"requestId":"${state.requestId}","tenant":"${state.caller.tenantId}","keyId":"${state.caller.keyId}","model":${asked ? q(asked.model) : 'null'},"stream":${asked?.stream === true},"status":${status},"errorCode":${errorCode ? q(errorCode) : 'null'},"cloud":${d ? `"${d.cloud}"` : 'null'},"deployment":${d ? q(d.key) : 'null'},"attempts":${state.attempts},"tokensIn":${u.tokensInputUncached + u.tokensInputCached},"tokensOut":${u.tokensOutput + u.tokensReasoning},"latencyMs":${Math.round((now - state.t0) * 100) / 100},"overheadMs":${state.overheadUs(now) / 1000}${state.span.traceId ? `,"traceId":"${state.span.traceId}"` : ''}${state.prompt !== null ? `,"messages":${q(state.prompt)}` : ''}`,
  );
}

/**
 * Adds a usage's disjoint buckets to a counter whose last label is the bucket (`type`); `prefix`
 * is the other label values, each followed by U+0000 (Counter.incKey's key).
 */
export function countTokenBuckets(counter: Counter, prefix: string, u: TokenUsage): void {
  if (u.tokensInputUncached) counter.incKey(`${prefix}input_uncached`, u.tokensInputUncached);
  if (u.tokensInputCached) counter.incKey(`${prefix}input_cached`, u.tokensInputCached);
  if (u.tokensOutput) counter.incKey(`${prefix}output`, u.tokensOutput);
  if (u.tokensReasoning) counter.incKey(`${prefix}reasoning`, u.tokensReasoning);
}

function countMetrics(
  gw: GatewayContext,
  asked: Asked | null,
  cloud: string,
  u: TokenUsage,
  status: number,
  errorCode: string | null,
  now: number,
  state: RequestState,
): void {
  const m = gw.metrics;
  // Only catalog names become label values: a client cannot grow the series without bound.
  // Keys are built directly (label-name order), without a labels object per call.
  const model = asked && gw.catalog.has(asked.model) ? asked.model : '(unknown)';
  const stream = asked?.stream === true ? 'true' : 'false';
  // The (model, cloud)'s series are kept, found by the two names (RouteSeriesCache).
  const s = m.routes.of(model, cloud);
  if (status === 200 && errorCode === null) m.routes.countOk(s, stream === 'true');
  else m.requests.incKey(`${s.prefix}\u0000${status}\u0000${errorCode ?? ''}\u0000${stream}`);
  if (u.tokensInputUncached) m.routes.addTokens(s, 0, u.tokensInputUncached);
  if (u.tokensInputCached) m.routes.addTokens(s, 1, u.tokensInputCached);
  if (u.tokensOutput) m.routes.addTokens(s, 2, u.tokensOutput);
  if (u.tokensReasoning) m.routes.addTokens(s, 3, u.tokensReasoning);
  s.duration.observe((now - state.t0) / 1000);
  m.overhead.observeKey(stream, state.overheadUs(now) / 1e6);
}
