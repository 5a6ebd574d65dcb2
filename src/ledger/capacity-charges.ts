// Fixed-cost capacity in the ledger: a provisioned pool costs its fixed monthly amount whatever it
// serves, so each month of its term is posted once, when the month begins, as its own transaction
// (`capacity:<pool>:<YYYY-MM>`, idempotent across nodes and restarts): debit the pool's expense,
// credit what is owed to the cloud for it. A month the term covers only in part costs its share,
// floor(fixed × covered ms / month ms): the one rounding step, toward the operator.
import { createHash } from 'node:crypto';
import type { Store } from '../store/index.js';
import { assertBalanced } from './invariants.js';
import { type LedgerTx, nextPeriod, periodOf, postingPeriod } from './plan-postings.js';

/** A pool as the ledger needs it (structured-cloneable: it crosses to the writer thread). */
export interface CapacityCharge {
  readonly poolId: string;
  readonly fromMs: number;
  readonly toMs: number | null;
  readonly fixedMicrosPerMonth: bigint;
}

/** The lock the charges are planned under, so that two nodes never plan the same month at once. */
const LOCK = 'capacity-charges';
/** At most this many months back are posted in one pass (a term that started long ago catches up). */
const MAX_MONTHS = 240;

function monthStartMs(period: string): number {
  return Date.parse(`${period}-01T00:00:00Z`);
}

/** Every month of a pool's term that has begun by `nowMs`, with what it costs. */
export function dueMonths(
  c: CapacityCharge,
  nowMs: number,
): { period: string; fromMs: number; micros: bigint }[] {
  const out: { period: string; fromMs: number; micros: bigint }[] = [];
  let p = periodOf(c.fromMs);
  for (let i = 0; i < MAX_MONTHS; i++, p = nextPeriod(p)) {
    const start = monthStartMs(p);
    const end = monthStartMs(nextPeriod(p));
    const from = Math.max(start, c.fromMs);
    const to = c.toMs === null ? end : Math.min(end, c.toMs);
    if (from > nowMs || to <= from) break;
    const micros = (c.fixedMicrosPerMonth * BigInt(to - from)) / BigInt(end - start);
    out.push({ period: p, fromMs: from, micros });
  }
  return out;
}

export function chargeTx(
  c: CapacityCharge,
  m: { period: string; fromMs: number; micros: bigint },
  currency: string,
  closed: ReadonlySet<string>,
): LedgerTx {
  return {
    txId: `capacity:${c.poolId}:${m.period}`,
    code: 'capacity',
    payloadHash: createHash('sha256').update(`${c.poolId}|${m.period}|${m.micros}|${currency}`).digest('hex'),
    effectiveAtMs: m.fromMs,
    period: postingPeriod(m.fromMs, closed),
    causeId: null,
    currency,
    capacity: c.poolId,
    entries:
      m.micros === 0n
        ? []
        : [
            { account: `capacity-expense:${c.poolId}`, amountMicros: m.micros },
            { account: `capacity-payable:${c.poolId}`, amountMicros: -m.micros },
          ],
  };
}

/**
 * Posts the months that have begun and are not posted yet. Returns how many were posted, and the
 * ids of months posted earlier with another amount (the pool's cost was changed in the config:
 * a posted month is never rewritten; the operator corrects it with an adjustment).
 */
export async function postCapacityCharges(
  store: Store,
  pools: readonly CapacityCharge[],
  currency: string,
  nowMs: number,
  /** Months known to be in the ledger already (kept by the caller between passes). */
  known: Set<string> = new Set(),
): Promise<{ posted: number; conflicts: string[] }> {
  const due = pools
    .flatMap((c) => dueMonths(c, nowMs).map((m) => ({ c, m })))
    .filter(({ c, m }) => !known.has(`capacity:${c.poolId}:${m.period}`));
  if (due.length === 0) return { posted: 0, conflicts: [] };
  let posted = 0;
  const conflicts: string[] = [];
  await store.postLedger(
    due.map(({ c, m }) => `capacity:${c.poolId}:${m.period}`),
    [LOCK],
    (view) => {
      const txs: LedgerTx[] = [];
      for (const { c, m } of due) {
        const tx = chargeTx(c, m, currency, view.closed);
        const prior = view.existing.get(tx.txId);
        if (prior === undefined) txs.push(tx);
        else if (prior !== tx.payloadHash) conflicts.push(tx.txId);
      }
      assertBalanced(txs);
      posted = txs.length;
      return { txs, states: new Map(), usageStatus: new Map() };
    },
  );
  for (const { c, m } of due) known.add(`capacity:${c.poolId}:${m.period}`);
  return { posted, conflicts };
}
