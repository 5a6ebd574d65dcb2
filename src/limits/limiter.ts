// The limiter's contract, shared by the in-process engine (one node) and the Redis engine (a
// fleet): reserve a request's worst case on every rule it touches in one atomic step, then settle
// to what it really used, or cancel. Both engines keep the same semantics, proven by one suite
// (test/limiter-conformance.test.ts):
//
// - requests per minute: a sliding log of admitted requests; a request is admitted when fewer than
//   the limit were admitted in the last 60 s (so no 60 s window ever holds more than the limit);
// - tokens per minute: a sliding log of reserved tokens, each entry corrected to the actual count
//   when its request settles;
// - concurrent requests: open holds, each with an expiry (a dead node's holds come back);
// - budgets: settled spend of the period + open holds' worst cases + this request's worst case
//   must stay within the budget; settling adds the actual cost and frees the hold.
import type { LimitRule } from './rules.js';

export const WINDOW_MS = 60_000;

export type LimitKind = 'requests' | 'tokens' | 'concurrent' | 'budget';

/** What a client is told of one limit (the OpenAI-style x-ratelimit-* headers). */
export interface Headroom {
  readonly limit: number;
  readonly remaining: number;
  /** Until the window is back to its initial state (nothing counted), in ms. */
  readonly resetMs: number;
}

export interface ReserveAsk {
  /** The request id: the hold's id on every rule. */
  readonly holdId: string;
  readonly nowMs: number;
  /** Worst-case tokens: prompt bound + output bound. */
  readonly tokens: number;
  /** Worst-case cost in micro-units of the ledger's currency. */
  readonly costMicros: bigint;
  readonly rules: readonly LimitRule[];
}

/** One budget rule's period, fixed at reservation: a request is charged to the period it began in. */
export interface HeldPeriod {
  readonly ruleId: string;
  readonly periodId: string;
  readonly endMs: number;
}

export interface Hold {
  readonly holdId: string;
  readonly atMs: number;
  readonly tokens: number;
  readonly costMicros: bigint;
  readonly rules: readonly LimitRule[];
  readonly periods: readonly HeldPeriod[];
  /** Which engine holds it: a hold taken locally (Redis down, local-share) is settled locally. */
  readonly engine: 'local' | 'redis';
}

export type Verdict =
  | {
      readonly ok: true;
      readonly hold: Hold;
      readonly requests: Headroom | null;
      readonly tokens: Headroom | null;
    }
  | {
      readonly ok: false;
      readonly kind: LimitKind;
      readonly rule: LimitRule;
      /** null: waiting will not help (the request alone exceeds the limit). */
      readonly retryAfterMs: number | null;
      readonly requests: Headroom | null;
      readonly tokens: Headroom | null;
    }
  | { readonly ok: false; readonly kind: 'unavailable'; readonly reason: string };

/** A budget crossed one of its alert fractions (reported once per period, by the settle that crossed it). */
export interface BudgetAlert {
  readonly rule: LimitRule;
  readonly periodId: string;
  readonly fraction: number;
  readonly spentMicros: bigint;
}

export interface Actual {
  readonly tokens: number;
  readonly costMicros: bigint;
}

export interface Limiter {
  reserve(ask: ReserveAsk): Verdict | Promise<Verdict>;
  /** Settles to the actual usage (idempotent per hold); the rest of the reservation is freed. */
  settle(hold: Hold, actual: Actual, nowMs: number): void | Promise<void>;
  /** Frees the whole hold, the request's place in the requests-per-minute log included. */
  cancel(hold: Hold, nowMs: number): void | Promise<void>;
  /** Settled and held spend of a budget rule's period, for the console and the reconcile. */
  budgetState(rule: LimitRule, periodId: string): Promise<{ spentMicros: bigint; heldMicros: bigint }>;
  /** Raises a period's settled spend to at least `ledgerMicros` (the ledger is the truth). Returns the drift. */
  reconcile(rule: LimitRule, periodId: string, ledgerMicros: bigint): Promise<bigint>;
  close(): Promise<void>;
}

export function crossed(alertAt: readonly number[], amount: bigint, before: bigint, after: bigint): number[] {
  // Fractions compared in integers: spent × 10⁶ ≥ fraction × 10⁶ × amount.
  return alertAt.filter((f) => {
    const t = BigInt(Math.round(f * 1_000_000)) * amount;
    return before * 1_000_000n < t && after * 1_000_000n >= t;
  });
}

/** OpenAI's reset format: `1s`, `6m0s`, `20ms`. */
export function formatReset(ms: number): string {
  if (ms <= 0) return '0s';
  if (ms < 1_000) return `${Math.ceil(ms)}ms`;
  const s = Math.ceil(ms / 1_000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return `${m}m${s % 60}s`;
}
