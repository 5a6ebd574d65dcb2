// The in-process limiter: one node's counters in memory, each step synchronous (so atomic on the
// event loop). It is the engine of a single node, and the fallback of a fleet node whose Redis is
// down under the `local-share` policy (each limit divided by the number of live nodes).
import {
  type Actual,
  type BudgetAlert,
  crossed,
  type Headroom,
  type HeldPeriod,
  type Hold,
  type Limiter,
  type ReserveAsk,
  type Verdict,
  WINDOW_MS,
} from './limiter.js';
import { budgetPeriodOf, type LimitRule } from './rules.js';

interface LogEntry {
  readonly t: number;
  tokens: number;
  live: boolean;
}

/** A sliding log: entries in time order, pruned from the front as they leave the window. */
class SlidingLog {
  readonly entries: LogEntry[] = [];
  head = 0;
  sum = 0;
  count = 0;

  prune(nowMs: number): void {
    const floor = nowMs - WINDOW_MS;
    while (this.head < this.entries.length && this.entries[this.head]!.t <= floor) {
      const e = this.entries[this.head++]!;
      if (e.live) {
        this.sum -= e.tokens;
        this.count--;
        e.live = false;
      }
    }
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Adds an entry; the hold keeps it (not a map by id: nothing here outlives the window). */
  add(t: number, tokens: number): LogEntry {
    const e = { t, tokens, live: true };
    this.entries.push(e);
    this.sum += tokens;
    this.count++;
    return e;
  }

  /** When the oldest live entries that must leave for `need` to fit have left (ms from now). */
  waitFor(nowMs: number, over: number): number {
    let freed = 0;
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (!e.live) continue;
      freed += e.tokens;
      if (freed >= over) return Math.max(1, e.t + WINDOW_MS - nowMs);
    }
    return WINDOW_MS;
  }

  resetMs(nowMs: number): number {
    for (let i = this.entries.length - 1; i >= this.head; i--)
      if (this.entries[i]!.live) return Math.max(0, this.entries[i]!.t + WINDOW_MS - nowMs);
    return 0;
  }
}

interface BudgetCell {
  spent: bigint;
  held: bigint;
  readonly holds: Map<string, { amount: bigint; expiresAtMs: number }>;
}

interface RuleState {
  readonly requests: SlidingLog;
  readonly tokens: SlidingLog;
  readonly open: Map<string, number>;
  readonly budgets: Map<string, BudgetCell>;
}

export interface LocalLimiterOptions {
  readonly reservationTtlMs: number;
  /** Every limit is divided by this (the local share of a fleet's limit); 1 on a single node. */
  readonly share?: () => number;
  readonly onAlert?: (a: BudgetAlert) => void;
}

/** A hold's entries in each rule's logs, in the order of hold.rules. */
type HoldEntries = { req: LogEntry | null; tok: LogEntry | null }[];

export class LocalLimiter implements Limiter {
  readonly #state = new Map<string, RuleState>();
  /** Holds settled or cancelled (weakly: a hold is forgotten with its request). */
  readonly #settled = new WeakSet<Hold>();
  readonly #entries = new WeakMap<Hold, HoldEntries>();
  readonly #opts: LocalLimiterOptions;

  constructor(opts: LocalLimiterOptions) {
    this.#opts = opts;
  }

  #rule(id: string): RuleState {
    let s = this.#state.get(id);
    if (!s) {
      s = { requests: new SlidingLog(), tokens: new SlidingLog(), open: new Map(), budgets: new Map() };
      this.#state.set(id, s);
    }
    return s;
  }

  #cell(s: RuleState, periodId: string): BudgetCell {
    let c = s.budgets.get(periodId);
    if (!c) {
      c = { spent: 0n, held: 0n, holds: new Map() };
      s.budgets.set(periodId, c);
    }
    return c;
  }

  reserve(ask: ReserveAsk): Verdict {
    const { nowMs } = ask;
    const n = Math.max(1, this.#opts.share?.() ?? 1);
    const periods: HeldPeriod[] = [];
    // Check every rule first; take nothing unless all have room.
    for (const r of ask.rules) {
      const refusal = this.#check(r, this.#rule(r.id), ask, n, periods);
      if (refusal) return refusal;
    }
    const ttl = this.#opts.reservationTtlMs;
    const entries: HoldEntries = ask.rules.map((r) => {
      const s = this.#rule(r.id);
      if (r.concurrent !== null) s.open.set(ask.holdId, nowMs + ttl);
      return {
        req: r.rpm !== null ? s.requests.add(nowMs, 1) : null,
        tok: r.tpm !== null ? s.tokens.add(nowMs, ask.tokens) : null,
      };
    });
    for (const p of periods) {
      const c = this.#cell(this.#rule(p.ruleId), p.periodId);
      c.held += ask.costMicros;
      c.holds.set(ask.holdId, { amount: ask.costMicros, expiresAtMs: nowMs + ttl });
    }
    const hold: Hold = { ...ask, atMs: nowMs, periods, engine: 'local' };
    this.#entries.set(hold, entries);
    return { ok: true, hold, ...this.#headroom(ask.rules, nowMs, n) };
  }

  #check(r: LimitRule, s: RuleState, ask: ReserveAsk, n: number, periods: HeldPeriod[]): Verdict | null {
    const { nowMs } = ask;
    const refuse = (kind: 'requests' | 'tokens' | 'concurrent' | 'budget', retryAfterMs: number | null) => ({
      ok: false as const,
      kind,
      rule: r,
      retryAfterMs,
      ...this.#headroom(ask.rules, nowMs, n),
    });
    if (r.rpm !== null) {
      s.requests.prune(nowMs);
      const limit = Math.floor(r.rpm / n);
      if (s.requests.count + 1 > limit)
        return refuse('requests', limit < 1 ? null : s.requests.waitFor(nowMs, s.requests.count + 1 - limit));
    }
    if (r.tpm !== null) {
      s.tokens.prune(nowMs);
      const limit = Math.floor(r.tpm / n);
      if (ask.tokens > limit) return refuse('tokens', null);
      if (s.tokens.sum + ask.tokens > limit)
        return refuse('tokens', s.tokens.waitFor(nowMs, s.tokens.sum + ask.tokens - limit));
    }
    if (r.concurrent !== null) {
      const limit = Math.floor(r.concurrent / n);
      // Holds are kept in the order they were taken, and all live as long: the expired are first.
      for (const [id, exp] of s.open) {
        if (exp > nowMs) break;
        s.open.delete(id);
      }
      if (s.open.size + 1 > limit) return refuse('concurrent', limit < 1 ? null : 1_000);
    }
    if (r.budget !== null) {
      const p = budgetPeriodOf(r, nowMs);
      const c = this.#cell(s, p.id);
      const limit = r.budget.amountMicros / BigInt(n);
      expireHolds(c, nowMs);
      if (c.spent + c.held + ask.costMicros > limit)
        return refuse('budget', ask.costMicros > limit ? null : p.endMs - nowMs);
      periods.push({ ruleId: r.id, periodId: p.id, endMs: p.endMs });
    }
    return null;
  }

  #headroom(
    rules: readonly LimitRule[],
    nowMs: number,
    n: number,
  ): { requests: Headroom | null; tokens: Headroom | null } {
    let requests: Headroom | null = null;
    let tokens: Headroom | null = null;
    for (const r of rules) {
      const s = this.#rule(r.id);
      if (r.rpm !== null) {
        const limit = Math.floor(r.rpm / n);
        const h = {
          limit,
          remaining: Math.max(0, limit - s.requests.count),
          resetMs: s.requests.resetMs(nowMs),
        };
        if (!requests || h.remaining < requests.remaining) requests = h;
      }
      if (r.tpm !== null) {
        const limit = Math.floor(r.tpm / n);
        const h = { limit, remaining: Math.max(0, limit - s.tokens.sum), resetMs: s.tokens.resetMs(nowMs) };
        if (!tokens || h.remaining < tokens.remaining) tokens = h;
      }
    }
    return { requests, tokens };
  }

  settle(hold: Hold, actual: Actual, _nowMs: number): void {
    if (this.#settled.has(hold)) return;
    this.#settled.add(hold);
    const entries = this.#entries.get(hold);
    hold.rules.forEach((r, i) => {
      const s = this.#rule(r.id);
      const e = entries?.[i]?.tok;
      if (e?.live) {
        s.tokens.sum += actual.tokens - e.tokens;
        e.tokens = actual.tokens;
      }
      if (r.concurrent !== null) s.open.delete(hold.holdId);
    });
    for (const p of hold.periods) {
      const r = hold.rules.find((x) => x.id === p.ruleId)!;
      const c = this.#cell(this.#rule(p.ruleId), p.periodId);
      const h = c.holds.get(hold.holdId);
      if (h) {
        c.held -= h.amount;
        c.holds.delete(hold.holdId);
      }
      const before = c.spent;
      c.spent += actual.costMicros;
      for (const fraction of crossed(r.budget!.alertAt, r.budget!.amountMicros, before, c.spent))
        this.#opts.onAlert?.({ rule: r, periodId: p.periodId, fraction, spentMicros: c.spent });
    }
  }

  cancel(hold: Hold, nowMs: number): void {
    if (this.#settled.has(hold)) return;
    const entries = this.#entries.get(hold);
    hold.rules.forEach((r, i) => {
      const e = entries?.[i]?.req;
      if (e?.live) {
        e.live = false;
        this.#rule(r.id).requests.count--;
      }
    });
    this.settle(hold, { tokens: 0, costMicros: 0n }, nowMs);
  }

  async budgetState(rule: LimitRule, periodId: string): Promise<{ spentMicros: bigint; heldMicros: bigint }> {
    const c = this.#state.get(rule.id)?.budgets.get(periodId);
    return { spentMicros: c?.spent ?? 0n, heldMicros: c?.held ?? 0n };
  }

  async reconcile(rule: LimitRule, periodId: string, ledgerMicros: bigint): Promise<bigint> {
    const c = this.#cell(this.#rule(rule.id), periodId);
    const drift = c.spent - ledgerMicros;
    if (drift < 0n) c.spent = ledgerMicros;
    return drift;
  }

  async close(): Promise<void> {}
}

function expireHolds(c: BudgetCell, nowMs: number): void {
  for (const [id, h] of c.holds) {
    if (h.expiresAtMs > nowMs) break;
    c.held -= h.amount;
    c.holds.delete(id);
  }
}
