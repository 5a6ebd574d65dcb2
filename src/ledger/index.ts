export { type CapacityCharge, postCapacityCharges } from './capacity-charges.js';
export { assertAccrualWithinCap, assertBalanced, assertRowsBalanced } from './invariants.js';
export { formatMicros, MICROS, mulRatioFloor, parseMajor } from './money.js';
export type { AccrualState, Entry, LedgerTx, Outcome, PostingInput, ShareTerm } from './plan-postings.js';
export {
  carryKey,
  nextPeriod,
  periodOf,
  planPostings,
  postingPeriod,
  revenuePayload,
  revenuePayloadHash,
  rowPayload,
  samePayload,
} from './plan-postings.js';
export type { LedgerSetup, PostResult, PreparedUsage } from './post-usage.js';
export {
  capCurrencyProblems,
  commitUsage,
  ledgerSetupFor,
  postUsage,
  postUsageBatches,
  prepareUsage,
  sellerOf,
  shareTermsFor,
} from './post-usage.js';
export type { PriceBooks, PriceEntry } from './price-book.js';
export {
  loadPriceBooks,
  PICO_PER_MICRO,
  parsePriceBooks,
  priceOf,
  resolvedPrices,
  revenueOf,
  revenuePicoOf,
  unpricedWarnings,
} from './price-book.js';
export type { RefundOutcome, RefundRequest } from './refunds.js';
export { postRefund } from './refunds.js';
export type { SegmentTotals, ShareTotals } from './share-totals.js';
export { shareTotals } from './share-totals.js';
export type { AccountStatement, ShareStatus, Statement } from './statements.js';
export { balances, buildStatement, revenueShareStatus, statementCsv, statementJson } from './statements.js';
