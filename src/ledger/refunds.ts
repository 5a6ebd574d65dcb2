// Refunds: part or all of a request's revenue is given back. The refund posts in the open period,
// linked to the revenue it reverses; it can never exceed what is left of that revenue as booked.
// For each revenue-share segment that covered the original revenue, the segment's Σ revenue goes
// down by the refund, and its accrual follows floor(rate × Σ revenue) down (never up) — except
// when the share says `refundsAfterCap: ignore` and the cap has been reached, where it stays.
// A refund is the only posting whose accrual may be negative (docs/ledger.md).
import { createHash } from 'node:crypto';
import type { Agreement } from '../agreements/index.js';
import type { Store } from '../store/index.js';
import { assertAccrualWithinCap, assertBalanced } from './invariants.js';
import { mulRatioFloor } from './money.js';
import { type LedgerTx, postingPeriod, type ShareTerm } from './plan-postings.js';
import { type LedgerSetup, sellerOf, shareTermsFor } from './post-usage.js';
import { PICO_PER_MICRO } from './price-book.js';

export interface RefundRequest {
  /** The caller's id for this refund: a retry with the same id and amount is a no-op. */
  readonly refundId: string;
  readonly requestId: string;
  readonly amountMicros: bigint;
  readonly atMs: number;
}

export type RefundOutcome =
  | { readonly ok: true; readonly duplicate: boolean; readonly accrualChangeMicros: bigint }
  | {
      readonly ok: false;
      readonly code: 'unknown_request' | 'refund_exceeds_revenue' | 'refund_id_reused' | 'invalid_amount';
      readonly message: string;
    };

/** The segment's own statement of the refund policy (`<agreement>/<share>@<version>`). */
function policyOf(agreement: Agreement | null, segment: string): 'reduce-accrual' | 'ignore' {
  if (!agreement) return 'reduce-accrual';
  const at = segment.lastIndexOf('@');
  const v = agreement.versions.find((x) => x.id === segment.slice(at + 1));
  const shareId = segment.slice(agreement.id.length + 1, at);
  return v?.terms.revenueShares.find((r) => r.id === shareId)?.refundsAfterCap ?? 'reduce-accrual';
}

export async function postRefund(
  store: Store,
  refund: RefundRequest,
  setup: LedgerSetup,
): Promise<RefundOutcome> {
  if (refund.amountMicros <= 0n)
    return { ok: false, code: 'invalid_amount', message: 'a refund amount is positive' };
  const [usage] = await store.listUsage({ requestId: refund.requestId, limit: 1 });
  if (!usage)
    return { ok: false, code: 'unknown_request', message: `no usage record for ${refund.requestId}` };
  const original = `revenue:${refund.requestId}`;
  const txId = `refund:${refund.refundId}`;
  const hash = createHash('sha256')
    .update(`${refund.refundId}|${refund.requestId}|${refund.amountMicros}`)
    .digest('hex');
  const terms: readonly ShareTerm[] = shareTermsFor(setup, usage, setup.priceBooks.currency);
  let outcome: RefundOutcome = { ok: true, duplicate: false, accrualChangeMicros: 0n };
  await store.postLedger(
    [txId],
    [...new Set(terms.flatMap((t) => t.segments))],
    (view) => {
      const states = new Map(view.states);
      const none = { txs: [], states: new Map(), usageStatus: new Map() };
      const prior = view.existing.get(txId);
      if (prior !== undefined) {
        outcome =
          prior === hash
            ? { ok: true, duplicate: true, accrualChangeMicros: 0n }
            : {
                ok: false,
                code: 'refund_id_reused',
                message: `refund id ${refund.refundId} was used for another refund`,
              };
        return none;
      }
      const left = view.receivableTotals.get(original) ?? 0n;
      if (refund.amountMicros > left) {
        outcome = {
          ok: false,
          code: 'refund_exceeds_revenue',
          message: `only ${left} micro-units of ${original} are left to refund`,
        };
        return none;
      }
      const period = postingPeriod(refund.atMs, view.closed);
      const txs: LedgerTx[] = [
        {
          txId,
          code: 'refund',
          payloadHash: hash,
          effectiveAtMs: refund.atMs,
          period,
          causeId: original,
          currency: setup.priceBooks.currency,
          entries: [
            { account: `receivable:${usage.tenantId}`, amountMicros: -refund.amountMicros },
            { account: `revenue:${sellerOf(setup, usage.tenantId)}`, amountMicros: refund.amountMicros },
          ],
        },
      ];
      let change = 0n;
      for (const t of terms) {
        const s = states.get(t.id) ?? { revenueMicros: 0n, accruedMicros: 0n, remainderPico: 0n };
        const revenue = s.revenueMicros - refund.amountMicros;
        const exact = (revenue < 0n ? 0n : revenue) * PICO_PER_MICRO + s.remainderPico;
        const due = mulRatioFloor(exact, t.num, t.den * PICO_PER_MICRO);
        let total = 0n;
        for (const k of t.segments) total += states.get(k)?.accruedMicros ?? 0n;
        const capReached = t.capMicros !== null && total >= t.capMicros;
        const keep = capReached && policyOf(setup.agreement, t.id) === 'ignore';
        const accrued = keep || due >= s.accruedMicros ? s.accruedMicros : due;
        states.set(t.id, { revenueMicros: revenue, accruedMicros: accrued, remainderPico: s.remainderPico });
        const delta = accrued - s.accruedMicros;
        change += delta;
        if (delta === 0n) continue;
        txs.push({
          txId: `refund-accrual:${t.id}:${refund.refundId}`,
          code: 'accrual',
          payloadHash: hash,
          effectiveAtMs: refund.atMs,
          period,
          causeId: txId,
          currency: setup.priceBooks.currency,
          entries: [
            { account: `revshare-expense:${t.payer}:${t.share}`, amountMicros: delta },
            { account: `revshare-payable:${t.payee}:${t.share}`, amountMicros: -delta },
          ],
        });
      }
      // Checked before the store commits: a broken plan throws and nothing is written.
      assertBalanced(txs);
      for (const t of terms) assertAccrualWithinCap(t.id, states.get(t.id)?.accruedMicros ?? 0n, null);
      outcome = { ok: true, duplicate: false, accrualChangeMicros: change };
      return { txs, states, usageStatus: new Map() };
    },
    [original],
  );
  return outcome;
}
