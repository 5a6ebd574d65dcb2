// GET /v1/entente/limits: every rule in force (the config's and each key's own), what it caps,
// and for budgets what is spent, held by requests in flight and left in the current period, with
// the last reconcile's drift against the ledger. ?key=<id> narrows to one key's rules.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Exchange, sendJson } from '../http/index.js';
import { formatMicros } from '../ledger/index.js';
import { keyBase, type LimitRule, periodAt } from '../limits/index.js';
import type { AdminContext } from './context.js';

async function describe(c: AdminContext, r: LimitRule, nowMs: number) {
  const scope = {
    key: r.keyBase ?? r.keyId,
    tenant: r.tenantId,
    model: r.model,
  };
  let budget = null;
  if (r.budget) {
    const p = periodAt(r.budget.period, nowMs);
    const state = await c.limits.limiter.budgetState(r, p.id).catch(() => null);
    const drift = c.limits.drift.get(r.id);
    budget = {
      amount: formatMicros(r.budget.amountMicros),
      currency: c.limits.currency,
      period: r.budget.period,
      periodId: p.id,
      resetsAt: new Date(p.endMs).toISOString(),
      spent: state ? formatMicros(state.spentMicros) : null,
      held: state ? formatMicros(state.heldMicros) : null,
      remaining: state ? formatMicros(r.budget.amountMicros - state.spentMicros - state.heldMicros) : null,
      alertAt: r.budget.alertAt,
      driftVsLedger: drift && drift.periodId === p.id ? formatMicros(drift.driftMicros) : null,
    };
  }
  return {
    id: r.id,
    scope,
    requestsPerMinute: r.rpm,
    tokensPerMinute: r.tpm,
    concurrentRequests: r.concurrent,
    budget,
  };
}

export async function listLimits(c: AdminContext, _req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const key = ex.query.get('key');
  const now = c.clock.now();
  const seen = new Set<string>();
  const rules = c.limits.rules.rules.filter((r) => {
    if (key !== null && r.keyId !== null && keyBase(key) !== r.keyBase && r.keyId !== key) return false;
    if (seen.has(r.id)) return false; // a key and its rotation share one counter
    seen.add(r.id);
    return true;
  });
  sendJson(res, 200, { limits: await Promise.all(rules.map((r) => describe(c, r, now))) }, ex.requestId);
}
