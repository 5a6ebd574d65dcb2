// The one failover loop, shared by chat completions, Responses and embeddings. It walks the route
// plan: skips deployments cooling down, asks the API's `build` for a native request (a provider
// that cannot honour a parameter is skipped, its probe slot given back), runs the API's `attempt`,
// and on failure tells the breaker, counts the failover and tries the next one, until one serves,
// the client leaves, or the plan runs out; then it composes the error that says why.
import { performance } from 'node:perf_hooks';
import { type GatewayError, gatewayError } from '../errors/index.js';
import type { BuildHints, NativeRequest, Unsupported, UpstreamFailure } from '../providers/index.js';
import { isUnsupported } from '../providers/index.js';
import type { CatalogDeployment, Exclusion } from '../routing/index.js';
import { admitCapacity, poolBuildHints, releaseCapacity } from './capacity.js';
import type { GatewayContext } from './context.js';
import { countTokenBuckets } from './finish.js';
import { type AttemptOutcome, CLIENT_GONE, type Ending, errorEnding } from './outcome.js';
import type { RequestState } from './request-state.js';
import type { RoutePlan } from './route-plan.js';
import { endAttemptSpan, startAttemptSpan } from './spans.js';
import { hostOf } from './upstream-call.js';
import type { BoundDeployment } from './upstreams.js';

export interface AttemptSpec {
  /** The native request for this deployment, or why its provider cannot serve this request. */
  build(b: BoundDeployment, hints?: BuildHints): NativeRequest | Unsupported;
  /** Sends it and relays the answer; the outcome decides whether to fail over. */
  attempt(b: BoundDeployment, native: NativeRequest): Promise<AttemptOutcome>;
  /** Whether the client is still there to answer. */
  clientGone(): boolean;
}

interface Tried {
  readonly deployment: CatalogDeployment;
  readonly failure: UpstreamFailure;
}

export async function runFailover(
  gw: GatewayContext,
  state: RequestState,
  plan: RoutePlan,
  spec: AttemptSpec,
): Promise<Ending> {
  const { maxAttempts, maxRetryAfterMs, budgetMs } = gw.config.routing;
  const tried: Tried[] = [];
  let refused: Unsupported | null = null;
  let earliestBackMs = Number.POSITIVE_INFINITY;
  for (const d of plan.order) {
    if (state.attempts >= maxAttempts) break;
    // The request's time budget is spent: no further deployment is tried.
    if (state.attempts > 0 && performance.now() - state.t0 >= budgetMs) break;
    const availability = gw.health.acquire(d.key, gw.clock.now());
    if (!availability.available) {
      earliestBackMs = Math.min(earliestBackMs, availability.untilMs);
      continue;
    }
    // A pooled deployment is tried only while its pool has room: otherwise the request spills over.
    if (!(await admitCapacity(gw, state, d))) {
      gw.health.release(d.key);
      continue;
    }
    // Built only for a deployment that will be tried (signing one costs). Whatever happens
    // between taking the breaker's slot and settling the attempt, the slot is given back: an
    // exception here must not keep the deployment out of rotation until a restart.
    const b = gw.bindings.get(d.key)!;
    let outcome: AttemptOutcome;
    try {
      const native = spec.build(b, poolBuildHints(gw, state, b));
      if (isUnsupported(native)) {
        gw.health.release(d.key);
        releaseCapacity(gw, state);
        refused ??= native;
        continue;
      }
      outcome = await attemptOnce(gw, state, spec, b, native);
    } catch (err) {
      gw.health.release(d.key);
      releaseCapacity(gw, state);
      throw err;
    }
    if (outcome.kind !== 'served') releaseCapacity(gw, state);
    switch (outcome.kind) {
      case 'served':
        // The attempt span stays open: finish() ends it after the usage is known.
        if (outcome.healthy) gw.health.success(d.key);
        else gw.health.failure(d.key, gw.clock.now(), null, 'stream_broken');
        state.deployment = d;
        return outcome;
      case 'client_gone':
        endAttemptSpan(state, outcome);
        gw.health.release(d.key);
        return CLIENT_GONE;
      case 'client_error': {
        endAttemptSpan(state, outcome);
        gw.health.release(d.key);
        state.deployment = d;
        const f = outcome.failure;
        // The upstream's own code (e.g. Azure's content_filter) is kept: clients switch on it.
        return errorEnding(
          { code: 'upstream_client_error', message: forTenant(f.message), param: f.param, status: f.status },
          f.upstreamCode,
        );
      }
      case 'failed': {
        endAttemptSpan(state, outcome);
        const f = outcome.failure;
        const backAtMs = noteFailure(gw, state, d, f, maxRetryAfterMs);
        tried.push({ deployment: d, failure: f });
        if (backAtMs !== null) earliestBackMs = Math.min(earliestBackMs, backAtMs);
        if (spec.clientGone()) return CLIENT_GONE;
      }
    }
  }
  return errorEnding(noneServed({ state, plan, tried, refused, earliestBackMs, nowMs: gw.clock.now() }));
}

/** One attempt: counted, traced, timed, and kept in the request's attempt log unless it simply served. */
async function attemptOnce(
  gw: GatewayContext,
  state: RequestState,
  spec: AttemptSpec,
  b: BoundDeployment,
  native: NativeRequest,
): Promise<AttemptOutcome> {
  state.attempts++;
  startAttemptSpan(gw, state, b);
  const t0 = performance.now();
  const outcome = await spec.attempt(b, native);
  if (outcome.kind === 'served' && state.attempts === 1) return outcome;
  const f = outcome.kind === 'failed' || outcome.kind === 'client_error' ? outcome.failure : null;
  // What a failed attempt's cloud had begun billing: the operator's cost of failing over.
  if (outcome.kind === 'failed' && outcome.usage)
    countTokenBuckets(gw.metrics.failedAttemptTokens, `${b.deployment.cloud}\u0000`, outcome.usage);
  state.attemptLog ??= [];
  state.attemptLog.push({
    deployment: b.deployment.key,
    outcome: outcome.kind === 'served' || outcome.kind === 'client_gone' ? outcome.kind : f!.kind,
    // A connection that failed or timed out got no status from the upstream.
    status:
      outcome.kind === 'served'
        ? outcome.status
        : f && f.kind !== 'connect' && f.kind !== 'timeout'
          ? f.status
          : null,
    code: outcome.kind === 'served' ? outcome.errorCode : (f?.upstreamCode ?? null),
    durationMs: Math.round((performance.now() - t0) * 10) / 10,
    // Where a connection could not be made or timed out: the host, for the operator.
    ...(f && (f.kind === 'connect' || f.kind === 'timeout') ? { host: hostOf(b.upstream.origin) } : {}),
    ...(outcome.kind === 'failed' && outcome.usage ? { usage: outcome.usage } : {}),
  });
  return outcome;
}

/** Why no deployment served: a parameter none can honour, full pools, or the attempts' failures. */
function noneServed(p: {
  state: RequestState;
  plan: RoutePlan;
  tried: readonly Tried[];
  refused: Unsupported | null;
  earliestBackMs: number;
  nowMs: number;
}): GatewayError {
  const untried = p.tried.length === 0 && !Number.isFinite(p.earliestBackMs);
  if (p.refused && untried)
    return gatewayError('unsupported_parameter', p.refused.message, { param: p.refused.param });
  if (p.state.spilledFrom !== null && untried)
    return gatewayError(
      'capacity_exhausted',
      `Pool '${p.state.spilledFrom}' is full and no other deployment of '${p.plan.admitted.model.name}' may serve this request.`,
      { retryAfterS: 1 },
    );
  return exhausted(p.tried, p.earliestBackMs, p.plan.admitted.model.excluded, p.nowMs);
}

/**
 * A failed attempt, told to everyone who keeps count: the log (the upstream's own words go there
 * and to the attempt span, not to the tenant), the breaker, the failover event and metric.
 * Returns when the deployment may be tried again, if the upstream said (retry-after).
 */
function noteFailure(
  gw: GatewayContext,
  state: RequestState,
  d: CatalogDeployment,
  f: UpstreamFailure,
  maxRetryAfterMs: number,
): number | null {
  gw.logger.warn('upstream attempt failed', {
    requestId: state.requestId,
    deployment: d.key,
    kind: f.kind,
    status: f.status,
    upstreamCode: f.upstreamCode,
    message: forTenant(f.message),
  });
  const capped = f.retryAfterMs === null ? null : Math.min(f.retryAfterMs, maxRetryAfterMs);
  gw.health.failure(d.key, gw.clock.now(), capped, f.kind);
  gw.events.onFailover?.(d, f.kind);
  gw.metrics.failovers.inc({ cloud: d.cloud, reason: f.kind });
  return capped === null ? null : gw.clock.now() + capped;
}

function exhausted(
  tried: readonly Tried[],
  earliestBackMs: number,
  excluded: readonly Exclusion[],
  nowMs: number,
): GatewayError {
  const err = exhaustedBy(tried, earliestBackMs, nowMs);
  // Say which deployments the agreement kept out, so a failed primary explains itself.
  if (excluded.length === 0) return err;
  return {
    ...err,
    message: `${err.message} Not eligible under the agreement: ${excluded.map((x) => `${x.deployment.key}: ${x.reason}`).join('; ')}.`,
  };
}

function exhaustedBy(tried: readonly Tried[], earliestBackMs: number, nowMs: number): GatewayError {
  const retryAfterS = Number.isFinite(earliestBackMs)
    ? Math.max(1, Math.ceil((earliestBackMs - nowMs) / 1000))
    : undefined;
  const extra = retryAfterS !== undefined ? { retryAfterS } : {};
  if (tried.length === 0)
    return gatewayError(
      'all_deployments_cooling_down',
      'Every deployment of this model failed recently and is cooling down. Retry after the retry-after header.',
      extra,
    );
  const describe = tried
    .map((t) => {
      const f = t.failure;
      const what =
        f.kind === 'timeout'
          ? 'timeout'
          : f.kind === 'connect'
            ? `connect${f.upstreamCode ? ` (${f.upstreamCode})` : ''}`
            : `HTTP ${f.status} (${f.kind})`;
      return `${t.deployment.key} (${t.deployment.cloud}): ${what}`;
    })
    .join('; ');
  if (tried.every((t) => t.failure.kind === 'rate_limited'))
    return gatewayError(
      'upstream_rate_limited',
      `Every deployment tried is rate limited: ${describe}`,
      extra,
    );
  if (tried.every((t) => t.failure.kind === 'timeout'))
    return gatewayError('upstream_timeout', `Every deployment tried timed out: ${describe}`, extra);
  return gatewayError('upstream_error', `Every deployment tried failed: ${describe}`, extra);
}

/**
 * An upstream's message as a tenant may see it: anything that looks like a credential (OpenAI
 * puts a masked fragment of the gateway's own key in its 401 text) is replaced, and the length is
 * bounded. The upstream's full text stays in the logs and traces.
 */
export function forTenant(message: string): string {
  return message
    .replace(/\b(sk|pk|rk)-[A-Za-z0-9_*-]{4,}/g, '[redacted]')
    .replace(/\bAKIA[0-9A-Z]{12,}\b/g, '[redacted]')
    .replace(/\bya29\.[A-Za-z0-9_\-.]+/g, '[redacted]')
    .replace(/\b[Bb]earer\s+\S+/g, 'Bearer [redacted]')
    .replace(/\b[A-Za-z0-9_-]{40,}\b/g, '[redacted]')
    .slice(0, 500);
}
