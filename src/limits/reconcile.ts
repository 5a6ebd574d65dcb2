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

/**
 * How far back a pass reads a period's spend again: rows are kept by the minute a request started,
 * and a request still running (a reservation lives at most 15 minutes) or being posted adds to its
 * minute later. Older minutes are read at full passes only.
 */
export const RECENT_MS = 15 * 60_000;
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

/** A period's spend before `cutMs`, read at the last full pass (or when the period began here). */
interface PeriodBase {
  readonly cutMs: number;
  readonly index: SpendIndex;
}

/** What a pass knows of one period: its spend before the cut, and since (read this pass). */
interface PeriodSpend {
  readonly period: Period;
  readonly base: SpendIndex;
  readonly recent: SpendIndex;
  /** Whether the base was read in this pass: rules compared before were compared on another. */
  readonly rebased: boolean;
}

/**
 * The budget reconcile, pass after pass. A pass asks the limiter to raise the counter of each
 * budget rule whose booked spend moved since that rule's last comparison (or that was never
 * compared): a counter at or above the ledger stays there (it only grows in its period), so an
 * unmoved ledger has nothing to raise.
 *
 * A period's spend is read in two parts: the minutes before a cut (`recentMs` before the last full
 * pass), read at full passes only, and the minutes since, read at every pass. A rule with no spend
 * since the cut has the ledger it had at its last comparison, and is not summed again. Every
 * `fullEvery`-th pass, and every pass asked to be full (seeding counters that a fresh Redis lost),
 * reads the whole period again and compares every rule: that is where a counter lost some other
 * way (a key Redis evicted), and spend posted late into older minutes (a node's spool recovered
 * after a crash), are caught up. With a budget on each of 100,000 keys, a pass reads and asks about
 * the keys that spent lately, not all of them.
 */
export class BudgetReconciler {
  readonly #last = new Map<string, { readonly periodId: string; readonly ledgerMicros: bigint }>();
  readonly #bases = new Map<string, PeriodBase>();
  #passes = 0;

  /** How far before a full pass its cut falls. */
  readonly recentMs: number;

  /**
   * `recentMs`: at least RECENT_MS; a gateway passes its reservations' lifetime
   * (limits.reservationTtlMs), which may be longer.
   */
  constructor(
    readonly store: Store,
    readonly fullEvery: number,
    recentMs: number = RECENT_MS,
  ) {
    this.recentMs = Math.max(RECENT_MS, recentMs);
  }

  async run(
    rules: readonly LimitRule[],
    limiter: Limiter,
    nowMs: number,
    opts: { readonly full?: boolean } = {},
  ): Promise<ReconcilePass> {
    const full = opts.full === true || this.#passes % this.fullEvery === 0;
    this.#passes++;
    // Each period's spend, read and indexed once a pass; a budget period's bounds, computed once.
    const bySpec = new Map<string, PeriodSpend>();
    const byBounds = new Map<string, PeriodSpend>();
    const due: { rule: LimitRule; periodId: string; ledgerMicros: bigint }[] = [];
    let unchanged = 0;
    let done = 0;
    for (const r of rules) {
      if (!r.budget) continue;
      // The thread serves between slices of the work, however many rules there are.
      if (++done % WORK_PER_TURN === 0) await nextTurn();
      const spec = typeof r.budget.period === 'string' ? r.budget.period : JSON.stringify(r.budget.period);
      let at = bySpec.get(spec);
      if (!at) {
        const period = periodAt(r.budget.period, nowMs);
        const bounds = `${period.startMs}:${period.endMs}`;
        at = byBounds.get(bounds) ?? (await this.#spend(period, bounds, full, nowMs));
        byBounds.set(bounds, at);
        bySpec.set(spec, at);
      }
      const p = at.period;
      const last = this.#last.get(r.id);
      const known = !full && last !== undefined && last.periodId === p.id;
      // No spend in its scope since the cut, on the base it was last compared on: as it was.
      if (known && !at.rebased && !at.recent.touches(r)) {
        unchanged++;
        continue;
      }
      const ledgerMicros = at.base.spendOf(r) + at.recent.spendOf(r);
      if (known && last.ledgerMicros === ledgerMicros) unchanged++;
      else due.push({ rule: r, periodId: p.id, ledgerMicros });
    }
    // Periods no rule is in any more (a month that ended) keep no base.
    for (const bounds of this.#bases.keys()) if (!byBounds.has(bounds)) this.#bases.delete(bounds);
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

  /** A period's spend: its base (read again on a full pass, or when it is new) and what is since. */
  async #spend(period: Period, bounds: string, full: boolean, nowMs: number): Promise<PeriodSpend> {
    const kept = full ? undefined : this.#bases.get(bounds);
    const base = kept ?? (await this.#readBase(period, nowMs));
    this.#bases.set(bounds, base);
    const recent = await SpendIndex.read(this.store, base.cutMs, period.endMs);
    return { period, base: base.index, recent, rebased: kept === undefined };
  }

  /** The period's spend before a cut `recentMs` before now (within the period). */
  async #readBase(period: Period, nowMs: number): Promise<PeriodBase> {
    const cut = Math.floor((nowMs - this.recentMs) / 60_000) * 60_000;
    const cutMs = Math.min(period.endMs, Math.max(period.startMs, cut));
    return { cutMs, index: await SpendIndex.read(this.store, period.startMs, cutMs) };
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

  /** The spend of [fromMs, untilMs), read and indexed a slice at a time, serving between slices. */
  static async read(store: Store, fromMs: number, untilMs: number): Promise<SpendIndex> {
    const index = new SpendIndex([]);
    if (untilMs <= fromMs) return index;
    const rows = await store.spendByScope(fromMs, untilMs);
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

  /** Whether any row may be in the rule's scope: false only when none is (spendOf is then 0). */
  touches(r: LimitRule): boolean {
    return (this.#candidates(r)?.length ?? 0) > 0;
  }

  /** Σ spend of the rows in the rule's scope (`matches` decides; the groups only narrow the scan). */
  spendOf(r: LimitRule): bigint {
    let total = 0n;
    for (const row of this.#candidates(r) ?? []) if (matches(r, row)) total += row.micros;
    return total;
  }

  #candidates(r: LimitRule): readonly SpendRow[] | undefined {
    if (r.keyBase !== null) return this.#byKeyBase.get(r.keyBase);
    if (r.keyId !== null) return this.#byKey.get(r.keyId);
    if (r.tenantId !== null) return this.#byTenant.get(r.tenantId);
    return this.#all;
  }
}
