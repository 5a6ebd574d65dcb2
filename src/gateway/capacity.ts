// Capacity, as a stage of the failover loop: before a pooled deployment is tried, the request's
// worst-case tokens are reserved in its pool (the limiter's tokens-per-minute counter, filled to
// the pool's target utilization; fleet-wide on Redis). A full pool is skipped, so the request
// spills over to the next deployment of the plan (pay-as-you-go in cost order); a failed attempt
// gives its reservation back; finish() settles it to the tokens used. The client is told which
// capacity served it (x-entente-capacity) and which pool it spilled from.
import { priceOf } from '../ledger/index.js';
import type { BuildHints } from '../providers/index.js';
import type { CatalogDeployment } from '../routing/index.js';
import type { GatewayContext } from './context.js';
import { endHold } from './limit.js';
import type { RequestState } from './request-state.js';
import type { BoundDeployment } from './upstreams.js';

export const PAY_AS_YOU_GO = 'pay-as-you-go';

/**
 * Whether `d` may be tried now: a pay-as-you-go deployment always; a pooled one when its pool has
 * room for the request's worst case (reserved here). Records which capacity the attempt uses.
 */
export async function admitCapacity(
  gw: GatewayContext,
  state: RequestState,
  d: CatalogDeployment,
): Promise<boolean> {
  if (gw.capacity.empty) return true;
  const pool = gw.capacity.poolOf(d.key, state.startedAtMs);
  if (!pool) {
    state.capacity = PAY_AS_YOU_GO;
    return true;
  }
  const v = await gw.limits.limiter.reserve({
    holdId: `${state.requestId}:${pool.id}`,
    nowMs: gw.clock.now(),
    tokens: state.worstTokens,
    costMicros: 0n,
    rules: [pool.rule],
  });
  if (!v.ok) {
    state.spilledFrom ??= pool.id;
    return false;
  }
  state.poolHold = v.hold;
  state.capacity = pool.id;
  return true;
}

/** The attempt on a pooled deployment failed: its reservation goes back to the pool. */
export function releaseCapacity(gw: GatewayContext, state: RequestState): void {
  // What the failed attempt's cloud said of its capacity does not carry over to the next attempt.
  state.spilledTo = null;
  state.tier = null;
  const hold = state.poolHold;
  if (!hold) return;
  state.poolHold = null;
  state.capacity = null;
  endHold(gw, hold, 0, 0n);
}

/** The request is over: the pool is charged the tokens it really used. */
export function settleCapacity(gw: GatewayContext, state: RequestState, tokens: number): void {
  const hold = state.poolHold;
  if (!hold) return;
  state.poolHold = null;
  endHold(gw, hold, tokens, 0n);
}

/**
 * Tiers by which a cloud says its shared (on-demand) capacity served a request, not the
 * reservation: OpenAI's and Bedrock's `default`, Bedrock's `flex`, Anthropic's `standard`,
 * Vertex's ON_DEMAND traffic, and Azure's spill-over (x-ms-spillover-from-<deployment>).
 */
const SHARED_TIERS: ReadonlySet<string> = new Set([
  'default',
  'standard',
  'flex',
  'ON_DEMAND',
  'ON_DEMAND_FLEX',
  'ON_DEMAND_PRIORITY',
  'spillover',
]);

/**
 * The cloud said which capacity served. Its word outranks the local count: when a pooled attempt
 * was served from shared capacity, the reservation there was full, so the pool is not charged and
 * the request is recorded as pay-as-you-go, spilled from the pool.
 */
export function noteServedTier(gw: GatewayContext, state: RequestState, tier: string | undefined): void {
  if (tier === undefined) return;
  state.tier = tier;
  const hold = state.poolHold;
  if (!hold || !SHARED_TIERS.has(tier)) return;
  state.poolHold = null;
  state.spilledFrom ??= state.capacity;
  state.capacity = PAY_AS_YOU_GO;
  endHold(gw, hold, 0, 0n);
}

const AZURE_SPILLED = 'x-ms-spillover-from-';

/**
 * Azure answers a request its PTU deployment spilled with x-ms-spillover-from-<deployment>: the
 * pool's spill-over deployment, in the same resource, served it, and is what the record names.
 */
export function noteUpstreamHeaders(
  gw: GatewayContext,
  state: RequestState,
  d: CatalogDeployment,
  head: { readonly headers: Readonly<Record<string, unknown>> },
): void {
  // The head parses its headers on first read: without capacity pools, a 200 answer's never are.
  if (gw.capacity.empty) return;
  for (const k in head.headers)
    if (k.startsWith(AZURE_SPILLED)) {
      const spill = gw.capacity.poolOf(d.key, state.startedAtMs)?.spilloverDeployment;
      if (spill) state.spilledTo = gw.bindings.get(`${d.upstreamId}/${spill}`)?.deployment ?? null;
      noteServedTier(gw, state, 'spillover');
      return;
    }
}

/**
 * What a pooled attempt asks its cloud for: an Azure PTU pool names its spill-over deployment in
 * the same resource (Azure then spills by itself, in the same round trip, when the PTU deployment
 * is full though the local count had room); a Bedrock pool asks for its service tier.
 */
export function poolBuildHints(
  gw: GatewayContext,
  state: RequestState,
  b: BoundDeployment,
): BuildHints | undefined {
  if (!state.poolHold || state.capacity === null) return undefined;
  const pool = gw.capacity.byId(state.capacity);
  const provider = b.upstream.provider.id;
  if (provider === 'azure-openai' && pool?.spilloverDeployment)
    return { spilloverDeployment: pool.spilloverDeployment };
  if (provider === 'bedrock' && pool?.serviceTier) return { serviceTier: pool.serviceTier };
  return undefined;
}

/** Above any real price: an unpriced deployment (served only with ledger.unpriced: flag) goes last. */
const UNPRICED_LAST = 2n ** 62n;

/** A deployment's price per million tokens (input + output list prices), for cost order; unpriced last. */
export function listCost(gw: GatewayContext, model: string, d: CatalogDeployment, atMs: number): bigint {
  const p = gw.priceBooks ? priceOf(gw.priceBooks, model, d.modelVersion, atMs) : null;
  return p ? p.entry.inputUncached + p.entry.output : UNPRICED_LAST;
}
