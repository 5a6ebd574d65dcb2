// Usage records → the ledger: price each record by the book in force at its effective date, find
// the revenue-share terms in force then, and post it all in one store transaction. With
// `storeRecords` the records themselves are stored in that same transaction (the spool writer's
// path): one unit of work stores, prices and posts a batch.
import { type Agreement, versionAsOf } from '../agreements/index.js';
import {
  type Store,
  USAGE_CONFLICT,
  USAGE_POSTED,
  USAGE_UNPRICED,
  type UsageRecord,
} from '../store/index.js';
import { type PostingInput, planPostings, type ShareTerm } from './plan-postings.js';
import { type PriceBooks, priceOf, revenueOf } from './price-book.js';

export interface LedgerSetup {
  readonly priceBooks: PriceBooks;
  readonly agreement: Agreement | null;
  /** The party whose revenue usage is (the model owner). */
  readonly owner: string;
}

export interface PostResult {
  posted: number;
  duplicate: number;
  conflict: number;
  unpriced: number;
}

/** Revenue-share terms in force at `atMs`: the version valid then, and each share's own term. */
export function shareTermsAt(agreement: Agreement | null, currency: string, atMs: number): ShareTerm[] {
  const v = agreement ? versionAsOf(agreement, atMs) : null;
  if (!agreement || !v) return [];
  return v.terms.revenueShares
    .filter((r) => r.term.from <= atMs && atMs < (r.term.to ?? Number.POSITIVE_INFINITY))
    .filter((r) => !r.cap || r.cap.currency === currency)
    .map((r) => ({
      id: `${agreement.id}/${r.id}`,
      payer: r.payer,
      payee: r.payee,
      num: r.rate.num,
      den: r.rate.den,
      capMicros: r.cap?.amount ?? null,
    }));
}

export async function postUsage(
  store: Store,
  records: readonly UsageRecord[],
  setup: LedgerSetup,
  opts: { readonly storeRecords?: boolean } = {},
): Promise<PostResult> {
  const result: PostResult = { posted: 0, duplicate: 0, conflict: 0, unpriced: 0 };
  const inputs: PostingInput[] = [];
  const unpriced: string[] = [];
  const currency = setup.priceBooks.currency;
  for (const u of records) {
    const price = priceOf(setup.priceBooks, u.model, u.modelVersion, u.startedAtMs);
    const billable = u.tokensInputUncached + u.tokensInputCached + u.tokensOutput + u.tokensReasoning > 0;
    if (!price && billable) {
      unpriced.push(u.requestId);
      continue;
    }
    inputs.push({
      usage: u,
      revenueMicros: price ? revenueOf(price.entry, u) : 0n,
      currency,
      owner: setup.owner,
      terms: shareTermsAt(setup.agreement, currency, u.startedAtMs),
    });
  }
  const txIds = inputs.map((i) => `revenue:${i.usage.requestId}`);
  const termIds = [...new Set(inputs.flatMap((i) => i.terms.map((t) => t.id)))];
  await store.postLedger(
    txIds,
    termIds,
    (view) => {
      const plan = planPostings(inputs, view.existing, view.states, view.closed);
      const usageStatus = new Map<string, number>();
      plan.outcomes.forEach((o, i) => {
        const rid = inputs[i]!.usage.requestId;
        // A conflict (the same id with another payload) is refused; only a still-pending stored
        // record is marked, so one posted under that id first keeps its status.
        if (o !== 'conflict') usageStatus.set(rid, USAGE_POSTED);
        else if (!usageStatus.has(rid)) usageStatus.set(rid, USAGE_CONFLICT);
      });
      for (const rid of unpriced) usageStatus.set(rid, USAGE_UNPRICED);
      // Tallied from the final plan, so a retried unit of work does not count twice.
      result.posted = plan.outcomes.filter((o) => o === 'posted').length;
      result.duplicate = plan.outcomes.filter((o) => o === 'duplicate').length;
      result.conflict = plan.outcomes.filter((o) => o === 'conflict').length;
      return { txs: plan.txs, states: plan.states, usageStatus };
    },
    [],
    opts.storeRecords ? records : [],
  );
  result.unpriced = unpriced.length;
  return result;
}

/** Revenue-share caps in a currency the price books do not bill in can never be reached: an error. */
export function capCurrencyProblems(agreement: Agreement, books: PriceBooks): string[] {
  const out: string[] = [];
  for (const v of agreement.versions) {
    for (const r of v.terms.revenueShares) {
      if (r.cap && r.cap.currency !== books.currency) {
        out.push(
          `[cap_currency_unpriced] version ${v.id}, revenue share ${r.id}: the cap is in ${r.cap.currency}, but the price books bill in ${books.currency}; add a ${r.cap.currency} price book or state the cap in ${books.currency}`,
        );
      }
    }
  }
  return out;
}
