// Usage → ledger transactions, as a pure function the stores call inside their own database
// transaction (with the accrual rows locked). For each usage record: one revenue transaction
// (idempotent by the request id; the same id with another payload is a conflict), then, for each
// revenue-share segment that covers it (the share as the version in force at the revenue's
// effective time states it), the accrual computed on the segment's cumulative totals:
//   want = floor(rate_s × Σ revenue_s) − accrued_s,   accrual = min(want, cap_s − Σ_all segments accrued)
// So rounding never drifts, an amendment never re-rates earlier revenue (each segment keeps its own
// rate), no usage posting is negative, and the cap is total across segments (docs/ledger.md).
// Revenue is priced exactly in pico-units and booked in micro-units with a carried remainder per
// tenant and seller, so a million tiny requests book what they cost.
import { hash as digest } from 'node:crypto';
import { EntenteError } from '../errors/index.js';
import { ROW_PAYLOAD_MARK, type UsageRecord } from '../store/index.js';
import { assertAccrualWithinCap, assertBalanced } from './invariants.js';
import { mulRatioFloor } from './money.js';
import { PICO_PER_MICRO } from './price-book.js';

export interface Entry {
  readonly account: string;
  /** Positive = debit, negative = credit; every transaction sums to zero. */
  readonly amountMicros: bigint;
}

export interface LedgerTx {
  readonly txId: string;
  readonly code: 'revenue' | 'accrual' | 'refund' | 'capacity';
  /**
   * What a retry must repeat exactly: a revenue transaction's payload (revenuePayload, or in its
   * record's row only the row's part, rowPayload; a SHA-256 hex digest of the whole in revenue
   * posted by earlier builds), a SHA-256 hex digest for others.
   */
  readonly payloadHash: string;
  readonly effectiveAtMs: number;
  /** The statement period it is posted in: YYYY-MM (UTC). */
  readonly period: string;
  readonly causeId: string | null;
  readonly currency: string;
  /** The capacity that served the revenue (a pool's id, or pay-as-you-go), or that a charge is for. */
  readonly capacity?: string | null;
  readonly entries: readonly Entry[];
}

export interface ShareTerm {
  /** `<agreement id>/<revenue share id>@<version id>`: the segment, the accrual state's key. */
  readonly id: string;
  /** `<agreement id>/<revenue share id>`: the share, whose accounts the accruals post to. */
  readonly share: string;
  /** Every segment key of the share (across versions): the cap is total across them. */
  readonly segments: readonly string[];
  readonly payer: string;
  readonly payee: string;
  readonly num: bigint;
  readonly den: bigint;
  /** The cap stated by this segment's version, total across the share's segments. */
  readonly capMicros: bigint | null;
}

export interface PostingInput {
  readonly usage: UsageRecord;
  /** Exact revenue in pico-units (millionths of a micro-unit). */
  readonly revenuePico: bigint;
  readonly currency: string;
  /** The party whose revenue it is (the tenant's party); a share's payer. */
  readonly seller: string;
  /** Revenue-share segments whose scope and revenue base cover this usage. */
  readonly terms: readonly ShareTerm[];
  /** carryKey(tenant, seller, currency), when the caller has it already. */
  readonly carryKey?: string;
  /**
   * The payload to keep: revenuePayload of this input (the default), or rowPayload when the
   * revenue is certain to be kept in its record's row (the records are stored in the same unit).
   */
  readonly payloadHash?: string;
  /** `revenue:<request id>`, when the caller has it already (one string, hashed once as a key). */
  readonly txId?: string;
}

/**
 * A segment's (or a carry's) running totals. Revenue is exact: revenueMicros × 10⁶ + remainderPico
 * pico-units; for a carry, revenueMicros is what has been booked and the remainder waits.
 */
export interface AccrualState {
  readonly revenueMicros: bigint;
  readonly accruedMicros: bigint;
  readonly remainderPico: bigint;
}

/** The state key of the sub-micro remainder carried for a tenant's revenue from a seller. */
export function carryKey(tenantId: string, seller: string, currency: string): string {
  return `carry:${currency}:${seller}:${tenantId}`;
}

export type Outcome = 'posted' | 'duplicate' | 'conflict';

/** The last month asked for, [from, to) in ms: a batch's records mostly share one. */
let lastMonth = { fromMs: 0, toMs: 0, period: '' };

export function periodOf(ms: number): string {
  if (ms >= lastMonth.fromMs && ms < lastMonth.toMs) return lastMonth.period;
  const d = new Date(ms);
  const period = d.toISOString().slice(0, 7);
  // setUTCFullYear, not Date.UTC, which reads the years 0–99 as 1900–1999.
  const bound = (months: number) =>
    new Date(0).setUTCFullYear(d.getUTCFullYear(), d.getUTCMonth() + months, 1);
  lastMonth = { fromMs: bound(0), toMs: bound(1), period };
  return period;
}

export function nextPeriod(p: string): string {
  const [y, m] = p.split('-').map(Number) as [number, number];
  return m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
}

/** The period an entry dated `ms` is posted in: its own, or the first open one after it. */
export function postingPeriod(ms: number, closed: ReadonlySet<string>): string {
  let p = periodOf(ms);
  while (closed.has(p)) p = nextPeriod(p);
  return p;
}

/**
 * The revenue transaction's payload: what a retry must repeat exactly. Kept as it is, not as a
 * digest: it is only ever compared with another payload (or with the SHA-256 hex digest of one
 * that revenue posted by builds before December 2026 keeps; samePayload). The digest was a fifth
 * of what pricing and posting cost the writer a record (callgrind: 9,400 of 49,000 instructions,
 * bench/instructions-bench.ts); the payload costs a stored row about 80 more bytes.
 */
export function revenuePayload(
  input: Pick<PostingInput, 'usage' | 'revenuePico' | 'currency' | 'seller'>,
): string {
  const u = input.usage;
  // The fields joined by '|', null as '' (as Array.join has always written them, so stored
  // digests stay valid). Records from before capacity pools have no capacity, as they always had.
  const capacity = u.capacity !== undefined ? `|${u.capacity ?? ''}` : '';
  return `${u.requestId}|${u.tenantId}|${u.model}|${u.modelVersion ?? ''}|${u.startedAtMs}|${u.tokensInputUncached}|${u.tokensInputCached}|${u.tokensOutput}|${u.tokensReasoning}|${input.revenuePico}|${input.currency}|${input.seller}${capacity}`;
}

/**
 * The payload of a revenue transaction kept in its record's row: `=` and what is not the row's own
 * (the exact revenue, currency, seller and capacity). The store reads it back whole
 * (src/store/transfer.ts REVENUE_PAYLOAD puts the record's fields before it, as revenuePayload
 * does). The whole text cost the writer 5,900 instructions a record to build and bind (callgrind).
 */
export function rowPayload(
  input: Pick<PostingInput, 'usage' | 'revenuePico' | 'currency' | 'seller'>,
): string {
  const c = input.usage.capacity;
  return `${ROW_PAYLOAD_MARK}${input.revenuePico}|${input.currency}|${input.seller}${c !== undefined ? `|${c ?? ''}` : ''}`;
}

/** A payload's SHA-256 hex digest: how revenue payloads were kept before December 2026. */
export function revenuePayloadHash(
  input: Pick<PostingInput, 'usage' | 'revenuePico' | 'currency' | 'seller'>,
): string {
  return digest('sha256', revenuePayload(input), 'hex');
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Whether a stored revenue payload is this one: the same text, or, for one posted by an earlier
 * build, its digest. A payload always holds '|', a digest never, so neither is mistaken for the other.
 */
export function samePayload(stored: string, payload: string): boolean {
  if (stored === payload) return true;
  return SHA256_HEX.test(stored) && digest('sha256', payload, 'hex') === stored;
}

interface AccrualGroup {
  readonly term: ShareTerm;
  readonly period: string;
  readonly currency: string;
  delta: bigint;
  effectiveAtMs: number;
  /** The first and last of the usage records whose revenue it accrues on (posting order), and how many. */
  readonly first: string;
  last: string;
  count: number;
}

/**
 * A batch's accrual for one term and period. Its id names the first record it covers: each record
 * is posted once (its revenue transaction is idempotent), so no two accruals share a first record.
 * Its payload digests what it is (the segment, its first and last record, how many, the sum and
 * period), once per batch: a digest of every record's id cost the writer 2,000 instructions a
 * record (callgrind, bench/instructions-bench.ts), and which records an accrual covers is in their
 * revenue transactions (each names its record; the accrual names its first).
 */
function accrualTx(g: AccrualGroup): LedgerTx {
  const t = g.term;
  const first = g.first;
  return {
    txId: `accrual:${t.id}:${first}`,
    code: 'accrual',
    payloadHash: digest(
      'sha256',
      `${t.id}|${first}|${g.last}|${g.count}|${g.delta}|${g.period}|${g.currency}`,
      'hex',
    ),
    effectiveAtMs: g.effectiveAtMs,
    period: g.period,
    causeId: `revenue:${first}`,
    currency: g.currency,
    entries: [
      { account: `revshare-expense:${t.payer}:${t.share}`, amountMicros: g.delta },
      { account: `revshare-payable:${t.payee}:${t.share}`, amountMicros: -g.delta },
    ],
  };
}

const ZERO: AccrualState = { revenueMicros: 0n, accruedMicros: 0n, remainderPico: 0n };

/** Adds exact revenue (pico-units) to a state's running total; returns the new state. */
function addRevenue(s: AccrualState, pico: bigint): AccrualState {
  const r = s.remainderPico + pico;
  return {
    revenueMicros: s.revenueMicros + r / PICO_PER_MICRO,
    accruedMicros: s.accruedMicros,
    remainderPico: r % PICO_PER_MICRO,
  };
}

/** Σ accrued over a share's segments. */
function shareTotal(states: ReadonlyMap<string, AccrualState>, t: ShareTerm): bigint {
  let total = 0n;
  for (const k of t.segments) total += states.get(k)?.accruedMicros ?? 0n;
  return total;
}

/**
 * One segment's accrual for new revenue (pico-units, exact): what its rate makes due on its own
 * cumulative exact revenue, floored once to the micro-unit, limited by what its cap leaves of the
 * share's total. Never negative.
 */
function segmentAccrual(
  states: Map<string, AccrualState>,
  t: ShareTerm,
  revenuePico: bigint,
  requestId: string,
): bigint {
  const s = states.get(t.id) ?? ZERO;
  const n = addRevenue(s, revenuePico);
  const exact = n.revenueMicros * PICO_PER_MICRO + n.remainderPico;
  const want = mulRatioFloor(exact, t.num, t.den * PICO_PER_MICRO) - s.accruedMicros;
  const before = shareTotal(states, t);
  const room = t.capMicros === null ? want : t.capMicros - before;
  const delta = want < room ? want : room > 0n ? room : 0n;
  // Only a refund may lower an accrual; usage never does (the past is fixed).
  if (delta < 0n)
    throw new EntenteError(
      'ledger_invariant_violated',
      `revenue share ${t.id}: usage ${requestId} would lower the accrual by ${-delta} micro-units`,
    );
  states.set(t.id, {
    revenueMicros: n.revenueMicros,
    accruedMicros: s.accruedMicros + delta,
    remainderPico: n.remainderPico,
  });
  if (delta > 0n) assertAccrualWithinCap(t.share, before + delta, t.capMicros);
  return delta;
}

/**
 * A segment never holds more than its own cap, nor more than its rate makes due on its revenue
 * (a state read back corrupted is refused, not carried forward).
 */
function assertSegment(t: ShareTerm, s: AccrualState): void {
  assertAccrualWithinCap(t.id, s.accruedMicros, t.capMicros);
  const due = mulRatioFloor(
    s.revenueMicros * PICO_PER_MICRO + s.remainderPico,
    t.num,
    t.den * PICO_PER_MICRO,
  );
  if (s.accruedMicros > due)
    throw new EntenteError(
      'ledger_invariant_violated',
      `revenue share ${t.id}: accrued ${s.accruedMicros} is above what its rate makes due (${due}) micro-units`,
    );
}

/**
 * Books exact revenue for a tenant and seller: the carried remainder plus this revenue, in whole
 * micro-units; what is left below one micro-unit waits for the next request.
 */
function book(states: Map<string, AccrualState>, key: string, pico: bigint): bigint {
  const c = states.get(key) ?? ZERO;
  const n = addRevenue(c, pico);
  states.set(key, n);
  return n.revenueMicros - c.revenueMicros;
}

export function planPostings(
  inputs: readonly PostingInput[],
  existing: ReadonlyMap<string, string>,
  states: ReadonlyMap<string, AccrualState>,
  closed: ReadonlySet<string>,
  opts: {
    /**
     * The inputs' ids are distinct and none is posted: the caller's store undoes the unit of work
     * otherwise (SQLite's batches presumed new). Nothing is then looked for: a repeat is posted
     * twice in a plan that is never committed.
     */
    readonly fresh?: boolean;
  } = {},
): {
  txs: LedgerTx[];
  states: Map<string, AccrualState>;
  outcomes: Outcome[];
  /** Each input's revenue transaction (also in txs), or undefined where its outcome is not posted. */
  revenue: (LedgerTx | undefined)[];
} {
  // What is posted already (its payload as stored), and this batch's inputs by transaction id.
  const seen = opts.fresh ? null : new Map<string, string | PostingInput>(existing);
  const next = new Map(states);
  const txs: LedgerTx[] = [];
  const accruals = new Map<ShareTerm, AccrualGroup[]>();
  const groups: AccrualGroup[] = [];
  const outcomes: Outcome[] = [];
  const revenueTxs: (LedgerTx | undefined)[] = [];
  // Account names, built once per batch for each tenant and seller, not once per record.
  const receivable = new Map<string, string>();
  const revenue = new Map<string, string>();
  const named = (m: Map<string, string>, prefix: string, id: string) => {
    let name = m.get(id);
    if (name === undefined) {
      name = `${prefix}:${id}`;
      m.set(id, name);
    }
    return name;
  };
  for (const input of inputs) {
    const u = input.usage;
    const txId = input.txId ?? `revenue:${u.requestId}`;
    const hash = input.payloadHash ?? revenuePayload(input);
    const prior = seen?.get(txId);
    if (prior !== undefined) {
      // Compared as whole payloads: a row's payload (rowPayload) leaves out the record's fields.
      const whole = revenuePayload(input);
      const same = typeof prior === 'string' ? samePayload(prior, whole) : revenuePayload(prior) === whole;
      outcomes.push(same ? 'duplicate' : 'conflict');
      revenueTxs.push(undefined);
      continue;
    }
    seen?.set(txId, input);
    outcomes.push('posted');
    const period = postingPeriod(u.startedAtMs, closed);
    const booked = book(
      next,
      input.carryKey ?? carryKey(u.tenantId, input.seller, input.currency),
      input.revenuePico,
    );
    // Always written, with no entries when nothing is booked, so that a retry is recognised.
    const tx: LedgerTx = {
      txId,
      code: 'revenue',
      payloadHash: hash,
      effectiveAtMs: u.startedAtMs,
      period,
      causeId: u.requestId,
      currency: input.currency,
      capacity: u.capacity ?? null,
      entries:
        booked === 0n
          ? []
          : [
              { account: named(receivable, 'receivable', u.tenantId), amountMicros: booked },
              { account: named(revenue, 'revenue', input.seller), amountMicros: -booked },
            ],
    };
    txs.push(tx);
    revenueTxs.push(tx);
    for (const t of input.terms) {
      const delta = segmentAccrual(next, t, input.revenuePico, u.requestId);
      if (delta === 0n) continue;
      // One accrual transaction per segment, period and currency per batch: the sum of the
      // records' deltas, each computed on the cumulative totals above, so the figure is the same
      // as one transaction per record would give, in a sixth of the rows.
      // Found by the term itself (one object per segment), not by a key string built per record.
      const open = accruals.get(t) ?? [];
      const g = open.find((x) => x.period === period && x.currency === input.currency);
      if (g) {
        g.delta += delta;
        g.effectiveAtMs = Math.max(g.effectiveAtMs, u.startedAtMs);
        g.last = u.requestId;
        g.count++;
      } else {
        const fresh: AccrualGroup = {
          term: t,
          period,
          currency: input.currency,
          delta,
          effectiveAtMs: u.startedAtMs,
          first: u.requestId,
          last: u.requestId,
          count: 1,
        };
        open.push(fresh);
        accruals.set(t, open);
        groups.push(fresh);
      }
    }
  }
  for (const g of groups) txs.push(accrualTx(g));
  // Checked before the store commits: a broken plan throws and nothing is written.
  assertBalanced(txs);
  // Each segment once: its final state is the same whichever of its records is asked.
  const segments = new Map<string, ShareTerm>();
  for (const input of inputs) for (const t of input.terms) segments.set(t.id, t);
  for (const t of segments.values()) assertSegment(t, next.get(t.id) ?? ZERO);
  return { txs, states: next, outcomes, revenue: revenueTxs };
}
