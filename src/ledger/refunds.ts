// Refunds: part or all of a request's revenue is given back. The refund posts in the open period,
// linked to the revenue it reverses; it can never exceed what is left of that revenue. For each
// revenue-share term that applied to the original revenue, Σ revenue goes down by the refund, and
// the accrual follows due = min(cap, floor(rate × Σ revenue)) down — except when the term says
// `refundsAfterCap: ignore` and the cap has been reached, where the accrual stays at the cap.
import { createHash } from 'node:crypto';
import { type Agreement, versionAsOf } from '../agreements/index.js';
import type { Store } from '../store/index.js';
import { assertAccrualWithinCap, assertBalanced } from './invariants.js';
import { mulRatioFloor } from './money.js';
import { type LedgerTx, postingPeriod, type ShareTerm } from './plan-postings.js';
import { type LedgerSetup, shareTermsAt } from './post-usage.js';

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

function policyOf(agreement: Agreement | null, termId: string, atMs: number): 'reduce-accrual' | 'ignore' {
  if (!agreement) return 'reduce-accrual';
  const v = versionAsOf(agreement, atMs);
  return (
    v?.terms.revenueShares.find((r) => `${agreement.id}/${r.id}` === termId)?.refundsAfterCap ??
    'reduce-accrual'
  );
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
  const terms: ShareTerm[] = shareTermsAt(setup.agreement, setup.priceBooks.currency, usage.startedAtMs);
  let outcome: RefundOutcome = { ok: true, duplicate: false, accrualChangeMicros: 0n };
  await store.postLedger(
    [txId],
    terms.map((t) => t.id),
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
            { account: `revenue:${setup.owner}`, amountMicros: refund.amountMicros },
          ],
        },
      ];
      let change = 0n;
      for (const t of terms) {
        const s = states.get(t.id) ?? { revenueMicros: 0n, accruedMicros: 0n };
        const revenue = s.revenueMicros - refund.amountMicros;
        const uncapped = mulRatioFloor(revenue, t.num, t.den);
        const due = t.capMicros !== null && uncapped > t.capMicros ? t.capMicros : uncapped;
        const capReached = t.capMicros !== null && s.accruedMicros === t.capMicros;
        const accrued =
          capReached && policyOf(setup.agreement, t.id, usage.startedAtMs) === 'ignore'
            ? s.accruedMicros
            : due;
        states.set(t.id, { revenueMicros: revenue, accruedMicros: accrued });
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
            { account: `revshare-expense:${t.payer}:${t.id}`, amountMicros: delta },
            { account: `revshare-payable:${t.payee}:${t.id}`, amountMicros: -delta },
          ],
        });
      }
      // Checked before the store commits: a broken plan throws and nothing is written.
      assertBalanced(txs);
      for (const t of terms) assertAccrualWithinCap(t.id, states.get(t.id)?.accruedMicros ?? 0n, t.capMicros);
      outcome = { ok: true, duplicate: false, accrualChangeMicros: change };
      return { txs, states, usageStatus: new Map() };
    },
    [original],
  );
  return outcome;
}
