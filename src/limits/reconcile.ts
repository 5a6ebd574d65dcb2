// The ledger is the truth for budgets: every so often (and once at start, which seeds a fresh
// counter), each budget's settled spend in Redis or in process is compared with the spend the
// ledger booked for the rule's scope in the current period, and raised to it when behind (a lost
// settle, a counter that Redis forgot). Raising is idempotent, so every node may do it. The
// drift (counter − ledger) is reported: positive while postings lag the counters, negative when
// the counter had lost spend.
import type { SpendRow, Store } from '../store/index.js';
import type { Limiter } from './limiter.js';
import { keyBase, type LimitRule, type Period, periodAt, pushTo } from './rules.js';

export interface BudgetDrift {
  readonly rule: string;
  readonly periodId: string;
  readonly driftMicros: bigint;
}

export function matches(r: LimitRule, row: SpendRow): boolean {
  const key =
    r.keyBase !== null ? keyBase(row.keyId) === r.keyBase : r.keyId === null || r.keyId === row.keyId;
  return (
    key && (r.tenantId === null || r.tenantId === row.tenantId) && (r.model === null || r.model === row.model)
  );
}

/** Limiter calls issued together: a Redis limiter's calls of one tick share a round trip. */
const CALLS_TOGETHER = 500;
/** Rules checked, or spend rows indexed, between two turns of the event loop. */
const WORK_PER_TURN = 2_000;
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface ReconcilePass {
  readonly drift: readonly BudgetDrift[];
  /** Budget rules compared with the ledger in this pass. */
  readonly checked: number;
  /** Budget rules whose ledger spend had not moved since their last comparison: not asked again. */
  readonly unchanged: number;
  readonly full: boolean;
}

/**
 * The budget reconcile, pass after pass. A pass reads each period's booked spend once and asks the
 * limiter to raise the counter of each budget rule whose ledger spend moved since that rule's last
 * comparison (or that was never compared): a counter at or above the ledger stays there (it only
 * grows in its period), so an unmoved ledger has nothing to raise. Every `fullEvery`-th pass, and
 * every pass asked to be full (seeding counters that a fresh Redis lost), compares every rule: a
 * counter lost some other way (a key Redis evicted) is raised there. With a budget on each of
 * 100,000 keys, a pass asks about the keys that spent since the last one, not all of them.
 */
export class BudgetReconciler {
  readonly #last = new Map<string, { readonly periodId: string; readonly ledgerMicros: bigint }>();
  #passes = 0;

  constructor(
    readonly store: Store,
    readonly fullEvery: number,
  ) {}

  async run(
    rules: readonly LimitRule[],
    limiter: Limiter,
    nowMs: number,
    opts: { readonly full?: boolean } = {},
  ): Promise<ReconcilePass> {
    const full = opts.full === true || this.#passes % this.fullEvery === 0;
    this.#passes++;
    // Each period's spend, read and indexed once; a budget period's bounds, computed once.
    const periods = new Map<string, { period: Period; index: SpendIndex }>();
    const due: { rule: LimitRule; periodId: string; ledgerMicros: bigint }[] = [];
    let unchanged = 0;
    let done = 0;
    for (const r of rules) {
      if (!r.budget) continue;
      // The thread serves between slices of the work, however many rules there are.
      if (++done % WORK_PER_TURN === 0) await nextTurn();
      const spec = typeof r.budget.period === 'string' ? r.budget.period : JSON.stringify(r.budget.period);
      let at = periods.get(spec);
      if (!at) {
        const period = periodAt(r.budget.period, nowMs);
        const same = [...periods.values()].find(
          (x) => x.period.startMs === period.startMs && x.period.endMs === period.endMs,
        );
        at = same ?? { period, index: await SpendIndex.read(this.store, period) };
        periods.set(spec, at);
      }
      const p = at.period;
      const ledgerMicros = at.index.spendOf(r);
      const last = this.#last.get(r.id);
      if (!full && last && last.periodId === p.id && last.ledgerMicros === ledgerMicros) unchanged++;
      else due.push({ rule: r, periodId: p.id, ledgerMicros });
    }
    if (full) this.#last.clear();
    const drift: BudgetDrift[] = [];
    for (let i = 0; i < due.length; i += CALLS_TOGETHER) {
      const chunk = due.slice(i, i + CALLS_TOGETHER);
      if (i > 0) await nextTurn();
      const drifts = await Promise.all(
        chunk.map((d) => limiter.reconcile(d.rule, d.periodId, d.ledgerMicros)),
      );
      chunk.forEach((d, j) => {
        // Remembered only once the limiter has it: a failed call is asked again next pass.
        this.#last.set(d.rule.id, { periodId: d.periodId, ledgerMicros: d.ledgerMicros });
        drift.push({ rule: d.rule.id, periodId: d.periodId, driftMicros: drifts[j]! });
      });
    }
    return { drift, checked: due.length, unchanged, full };
  }
}

/**
 * A period's spend rows, grouped by key, key lineage and tenant, so that a rule scoped to one of
 * them reads only its own rows. Scanning every row for every rule was rules × rows: with a budget
 * on each of 10,000 keys, 10⁸ comparisons on the serving thread at every reconcile.
 */
export class SpendIndex {
  #all: readonly SpendRow[];
  readonly #byKey = new Map<string, SpendRow[]>();
  readonly #byKeyBase = new Map<string, SpendRow[]>();
  readonly #byTenant = new Map<string, SpendRow[]>();

  constructor(rows: readonly SpendRow[]) {
    this.#all = rows;
    for (const row of rows) this.#add(row);
  }

  /** A period's spend, read and indexed a slice at a time, the thread serving between slices. */
  static async read(store: Store, p: Period): Promise<SpendIndex> {
    const index = new SpendIndex([]);
    const rows = await store.spendByScope(p.startMs, p.endMs);
    index.#all = rows;
    for (let i = 0; i < rows.length; i++) {
      if (i > 0 && i % WORK_PER_TURN === 0) await nextTurn();
      index.#add(rows[i]!);
    }
    return index;
  }

  #add(row: SpendRow): void {
    pushTo(this.#byKey, row.keyId, row);
    pushTo(this.#byKeyBase, keyBase(row.keyId), row);
    pushTo(this.#byTenant, row.tenantId, row);
  }

  /** Σ spend of the rows in the rule's scope (`matches` decides; the groups only narrow the scan). */
  spendOf(r: LimitRule): bigint {
    const candidates =
      r.keyBase !== null
        ? this.#byKeyBase.get(r.keyBase)
        : r.keyId !== null
          ? this.#byKey.get(r.keyId)
          : r.tenantId !== null
            ? this.#byTenant.get(r.tenantId)
            : this.#all;
    let total = 0n;
    for (const row of candidates ?? []) if (matches(r, row)) total += row.micros;
    return total;
  }
}
