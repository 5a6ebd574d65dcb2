// Capacity, as a stage of the failover loop: before a pooled deployment is tried, the request's
// worst-case tokens are reserved in its pool (the limiter's tokens-per-minute counter, filled to
// the pool's target utilization; fleet-wide on Redis). A full pool is skipped, so the request
// spills over to the next deployment of the plan (pay-as-you-go in cost order); a failed attempt
// gives its reservation back; finish() settles it to the tokens used. The client is told which
// capacity served it (x-entente-capacity) and which pool it spilled from.
import { priceOf } from '../ledger/index.js';
import type { CatalogDeployment } from '../routing/index.js';
import type { GatewayContext } from './context.js';
import { endHold } from './limit.js';
import type { RequestState } from './request-state.js';

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

/** Above any real price: an unpriced deployment (served only with ledger.unpriced: flag) goes last. */
const UNPRICED_LAST = 2n ** 62n;

/** A deployment's price per million tokens (input + output list prices), for cost order; unpriced last. */
export function listCost(gw: GatewayContext, model: string, d: CatalogDeployment, atMs: number): bigint {
  const p = gw.priceBooks ? priceOf(gw.priceBooks, model, d.modelVersion, atMs) : null;
  return p ? p.entry.inputUncached + p.entry.output : UNPRICED_LAST;
}
