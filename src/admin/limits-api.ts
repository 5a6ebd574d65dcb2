// GET /v1/entente/limits: every rule in force (the config's and each key's own), what it caps,
// and for budgets what is spent, held by requests in flight and left in the current period, with
// the last reconcile's drift against the ledger; in id order, a page at a time (limit, after).
// ?key=<id> narrows to one key's rules and the rules of no key; ?keys=<id>,<id>… to the rules that
// name those keys (a page of keys).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type Exchange, sendJson } from '../http/index.js';
import { formatMicros } from '../ledger/index.js';
import { keyBase, type LimitRule, periodAt } from '../limits/index.js';
import type { SpendDimension } from '../store/index.js';
import type { AdminContext } from './context.js';
import { KEY_ID } from './keys-api.js';
import { countOf, pageOf, refuse } from './query.js';

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

/** At most this many ids in `keys=`: a page of the console's keys fits in a request's headers. */
export const MAX_KEYS_PARAM = 200;

/**
 * The `keys` parameter: a comma-separated list of key ids (1–200), or null when absent; a
 * malformed list is answered with 400 here, and undefined returned.
 */
function keysParam(res: ServerResponse, ex: Exchange): string[] | null | undefined {
  const text = ex.query.get('keys');
  if (text === null) return null;
  const ids = text.split(',');
  if (ids.length <= MAX_KEYS_PARAM && ids.every((id) => KEY_ID.test(id))) return ids;
  refuse(res, ex, `keys must be 1 to ${MAX_KEYS_PARAM} key ids, separated by commas`, 'keys');
  return undefined;
}

const LIMITS_PAGE_MAX = 1_000;

/**
 * The rules in id order, a page at a time: `limit` (1–1000, default 1000) rules after the id
 * `after`, and `next`, the `after` of the next page (null on the last). With `key`, only that
 * key's rules (its rotations' too) and the rules of no key; with `keys`, only the rules that name
 * those keys, read through the index, in one answer.
 */
export async function listLimits(c: AdminContext, _req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const key = ex.query.get('key');
  const keys = keysParam(res, ex);
  if (keys === undefined) return;
  const page = pageOf(res, ex, {
    fallback: LIMITS_PAGE_MAX,
    max: LIMITS_PAGE_MAX,
    id: /^(key|rule):[a-z0-9][a-z0-9._:-]{0,320}$/,
    idIs: 'a rule id',
  });
  if (!page) return;
  const { limit, after } = page;
  const now = c.clock.now();
  let rules: readonly LimitRule[];
  let next: string | null = null;
  if (keys) {
    const seen = new Set<string>();
    // A key and its rotation share one counter: one rule each.
    rules = keys
      .flatMap((id) => c.limits.rules.rulesOfKey(id))
      .filter((r) => !seen.has(r.id) && !!seen.add(r.id));
  } else {
    const all = c.limits.rules.byId.filter(
      (r) => key === null || r.keyId === null || keyBase(key) === r.keyBase || r.keyId === key,
    );
    const from = after === null ? 0 : firstAfter(all, after);
    rules = all.slice(from, from + limit);
    if (from + limit < all.length) next = rules.at(-1)!.id;
  }
  sendJson(
    res,
    200,
    { limits: await Promise.all(rules.map((r) => describe(c, r, now))), next },
    ex.requestId,
  );
}

/** The index of the first rule whose id sorts after `id`, in rules sorted by id. */
function firstAfter(rules: readonly LimitRule[], id: string): number {
  let lo = 0;
  let hi = rules.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (rules[mid]!.id <= id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const WINDOWS: Record<string, number> = {
  '1h': 3_600_000,
  '24h': 86_400_000,
  '7d': 7 * 86_400_000,
  '30d': 30 * 86_400_000,
};

/** The most groups a spend summary lists per dimension. */
const SPEND_TOP_MAX = 1_000;

/**
 * GET /v1/entente/spend?window=1h|24h|7d|30d: what the ledger booked for requests started in the
 * window (from every node: it reads the store, not this node): the total, and by tenant, key,
 * model and cloud the largest `top` (1–1000, default 100) with how many there are. With
 * ?keys=<id>,<id>…, of those keys only (all of them listed, unless `top` says fewer).
 */
export async function spend(c: AdminContext, _req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const window = ex.query.get('window') ?? '24h';
  const ms = WINDOWS[window];
  if (ms === undefined)
    return refuse(res, ex, `window must be one of ${Object.keys(WINDOWS).join(', ')}`, 'window');
  const keys = keysParam(res, ex);
  if (keys === undefined) return;
  const top = countOf(res, ex, 'top', { fallback: keys ? keys.length : 100, max: SPEND_TOP_MAX });
  if (top === null) return;
  const until = c.clock.now();
  const s = await c.store.spendSummary(until - ms, until + 1, keys ? { top, keyIds: keys } : { top });
  const list = (d: SpendDimension) =>
    s.by[d].top.map((g) => ({ name: g.name, requests: g.requests, spent: formatMicros(g.micros) }));
  sendJson(
    res,
    200,
    {
      window,
      since: new Date(until - ms).toISOString(),
      until: new Date(until).toISOString(),
      currency: c.limits.currency || (c.priceBooks?.currency ?? ''),
      total: formatMicros(s.micros),
      requests: s.requests,
      byTenant: list('tenant'),
      byKey: list('key'),
      byModel: list('model'),
      byCloud: list('cloud'),
      // How many groups each dimension has: more than listed when past `top`.
      counts: {
        tenants: s.by.tenant.groups,
        keys: s.by.key.groups,
        models: s.by.model.groups,
        clouds: s.by.cloud.groups,
      },
    },
    ex.requestId,
  );
}
