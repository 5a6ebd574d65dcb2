// Usage → ledger transactions, as a pure function the stores call inside their own database
// transaction (with the accrual rows locked). For each usage record: one revenue transaction
// (idempotent by the request id; the same id with another payload is a conflict), then, for each
// revenue-share term in force at the revenue's effective date, the accrual computed on cumulative
// totals:  due = min(cap, floor(rate × Σ revenue)),  accrual = due − accrued.
// So rounding never drifts, and the cap is never passed, whatever the batching or the order.
import { createHash } from 'node:crypto';
import { EntenteError } from '../errors/index.js';
import type { UsageRecord } from '../store/index.js';
import { assertAccrualWithinCap, assertBalanced } from './invariants.js';
import { mulRatioFloor } from './money.js';

export interface Entry {
  readonly account: string;
  /** Positive = debit, negative = credit; every transaction sums to zero. */
  readonly amountMicros: bigint;
}

export interface LedgerTx {
  readonly txId: string;
  readonly code: 'revenue' | 'accrual' | 'refund';
  readonly payloadHash: string;
  readonly effectiveAtMs: number;
  /** The statement period it is posted in: YYYY-MM (UTC). */
  readonly period: string;
  readonly causeId: string | null;
  readonly currency: string;
  readonly entries: readonly Entry[];
}

export interface ShareTerm {
  /** `<agreement id>/<revenue share id>`: the accrual state's key. */
  readonly id: string;
  readonly payer: string;
  readonly payee: string;
  readonly num: bigint;
  readonly den: bigint;
  readonly capMicros: bigint | null;
}

export interface PostingInput {
  readonly usage: UsageRecord;
  readonly revenueMicros: bigint;
  readonly currency: string;
  /** The party whose revenue it is (the model owner, the share's payer). */
  readonly owner: string;
  /** Revenue-share terms in force at the usage's effective date. */
  readonly terms: readonly ShareTerm[];
}

export interface AccrualState {
  readonly revenueMicros: bigint;
  readonly accruedMicros: bigint;
}

export type Outcome = 'posted' | 'duplicate' | 'conflict';

export function periodOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 7);
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

/** The revenue transaction's identity: what a retry must repeat exactly. */
export function revenuePayloadHash(input: PostingInput): string {
  const u = input.usage;
  const canonical = [
    u.requestId,
    u.tenantId,
    u.model,
    u.modelVersion,
    u.startedAtMs,
    u.tokensInputUncached,
    u.tokensInputCached,
    u.tokensOutput,
    u.tokensReasoning,
    input.revenueMicros,
    input.currency,
  ].join('|');
  return createHash('sha256').update(canonical).digest('hex');
}

interface AccrualGroup {
  readonly term: ShareTerm;
  readonly period: string;
  readonly currency: string;
  delta: bigint;
  effectiveAtMs: number;
  /** The usage records whose revenue it accrues on, in posting order. */
  readonly members: string[];
}

/**
 * A batch's accrual for one term and period. Its id names the first record it covers: each record
 * is posted once (its revenue transaction is idempotent), so no two accruals share a first record.
 */
function accrualTx(g: AccrualGroup): LedgerTx {
  const t = g.term;
  const first = g.members[0]!;
  return {
    txId: `accrual:${t.id}:${first}`,
    code: 'accrual',
    payloadHash: createHash('sha256').update(g.members.join('|')).digest('hex'),
    effectiveAtMs: g.effectiveAtMs,
    period: g.period,
    causeId: `revenue:${first}`,
    currency: g.currency,
    entries: [
      { account: `revshare-expense:${t.payer}:${t.id}`, amountMicros: g.delta },
      { account: `revshare-payable:${t.payee}:${t.id}`, amountMicros: -g.delta },
    ],
  };
}

export function planPostings(
  inputs: readonly PostingInput[],
  existing: ReadonlyMap<string, string>,
  states: ReadonlyMap<string, AccrualState>,
  closed: ReadonlySet<string>,
): { txs: LedgerTx[]; states: Map<string, AccrualState>; outcomes: Outcome[] } {
  const seen = new Map(existing);
  const next = new Map(states);
  const txs: LedgerTx[] = [];
  const accruals = new Map<string, AccrualGroup>();
  const outcomes: Outcome[] = [];
  for (const input of inputs) {
    const u = input.usage;
    const txId = `revenue:${u.requestId}`;
    const hash = revenuePayloadHash(input);
    const prior = seen.get(txId);
    if (prior !== undefined) {
      outcomes.push(prior === hash ? 'duplicate' : 'conflict');
      continue;
    }
    seen.set(txId, hash);
    outcomes.push('posted');
    const period = postingPeriod(u.startedAtMs, closed);
    // Always written, with no entries when the revenue is zero, so that a retry is recognised.
    txs.push({
      txId,
      code: 'revenue',
      payloadHash: hash,
      effectiveAtMs: u.startedAtMs,
      period,
      causeId: u.requestId,
      currency: input.currency,
      entries:
        input.revenueMicros === 0n
          ? []
          : [
              { account: `receivable:${u.tenantId}`, amountMicros: input.revenueMicros },
              { account: `revenue:${input.owner}`, amountMicros: -input.revenueMicros },
            ],
    });
    for (const t of input.terms) {
      const s = next.get(t.id) ?? { revenueMicros: 0n, accruedMicros: 0n };
      const revenue = s.revenueMicros + input.revenueMicros;
      const uncapped = mulRatioFloor(revenue, t.num, t.den);
      const due = t.capMicros !== null && uncapped > t.capMicros ? t.capMicros : uncapped;
      const delta = due - s.accruedMicros;
      // Only a refund may lower an accrual; usage never does (the past is fixed).
      if (delta < 0n)
        throw new EntenteError(
          'ledger_invariant_violated',
          `revenue share ${t.id}: usage ${u.requestId} would lower the accrual by ${-delta} micro-units`,
        );
      next.set(t.id, { revenueMicros: revenue, accruedMicros: due });
      if (delta === 0n) continue;
      // One accrual transaction per term, period and currency per batch: the sum of the records'
      // deltas, each computed on the cumulative totals above, so the figure is the same as one
      // transaction per record would give, in a sixth of the rows.
      const key = `${t.id}\u0000${period}\u0000${input.currency}`;
      const g = accruals.get(key);
      if (g) {
        g.delta += delta;
        g.effectiveAtMs = Math.max(g.effectiveAtMs, u.startedAtMs);
        g.members.push(u.requestId);
      } else
        accruals.set(key, {
          term: t,
          period,
          currency: input.currency,
          delta,
          effectiveAtMs: u.startedAtMs,
          members: [u.requestId],
        });
    }
  }
  for (const g of accruals.values()) txs.push(accrualTx(g));
  // Checked before the store commits: a broken plan throws and nothing is written.
  assertBalanced(txs);
  const caps = new Map(inputs.flatMap((i) => i.terms.map((t) => [t.id, t.capMicros] as const)));
  for (const [id, s] of next) if (caps.has(id)) assertAccrualWithinCap(id, s.accruedMicros, caps.get(id)!);
  return { txs, states: next, outcomes };
}
