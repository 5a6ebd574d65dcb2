// The ledger is the truth for budgets: every so often (and once at start, which seeds a fresh
// counter), each budget's settled spend in Redis or in process is compared with the spend the
// ledger booked for the rule's scope in the current period, and raised to it when behind (a lost
// settle, a counter that Redis forgot). Raising is idempotent, so every node may do it. The
// drift (counter − ledger) is reported: positive while postings lag the counters, negative when
// the counter had lost spend.
import type { SpendRow, Store } from '../store/index.js';
import type { Limiter } from './limiter.js';
import { keyBase, type LimitRule, periodAt } from './rules.js';

export interface BudgetDrift {
  readonly rule: string;
  readonly periodId: string;
  readonly driftMicros: bigint;
}

function matches(r: LimitRule, row: SpendRow): boolean {
  const key =
    r.keyBase !== null ? keyBase(row.keyId) === r.keyBase : r.keyId === null || r.keyId === row.keyId;
  return (
    key && (r.tenantId === null || r.tenantId === row.tenantId) && (r.model === null || r.model === row.model)
  );
}

export async function reconcileBudgets(
  store: Store,
  rules: readonly LimitRule[],
  limiter: Limiter,
  nowMs: number,
): Promise<BudgetDrift[]> {
  const byPeriod = new Map<string, SpendRow[]>();
  const out: BudgetDrift[] = [];
  for (const r of rules) {
    if (!r.budget) continue;
    const p = periodAt(r.budget.period, nowMs);
    const key = `${p.startMs}:${p.endMs}`;
    let rows = byPeriod.get(key);
    if (!rows) {
      rows = await store.spendByScope(p.startMs, p.endMs);
      byPeriod.set(key, rows);
    }
    let ledger = 0n;
    for (const row of rows) if (matches(r, row)) ledger += row.micros;
    out.push({ rule: r.id, periodId: p.id, driftMicros: await limiter.reconcile(r, p.id, ledger) });
  }
  return out;
}
