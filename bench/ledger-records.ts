// What the ledger benchmarks post (bench/ledger-bench.ts, bench/writer-path.ts): the ledger
// worker's price books and agreement (one capped revenue-share term, its cap raised out of reach),
// and fresh usage records with time-ordered ids and times.
import { parseAgreementText } from '../src/agreements/index.js';
import { type LedgerSetup, parsePriceBooks } from '../src/ledger/index.js';
import type { UsageRecord } from '../src/store/index.js';
import { universeRecord, WORKER_AGREEMENT, WORKER_PRICES } from '../test/helpers/ledger-worker.js';

export const benchLedgerSetup: LedgerSetup = {
  priceBooks: parsePriceBooks(WORKER_PRICES, 'p.yaml'),
  agreement: parseAgreementText(WORKER_AGREEMENT.replace('0.300000', '1000000'), 'a.yaml'),
  owner: 'op',
};

/** Records [from, from + count) of the universe, `spacingMs` apart from 2026-05-01. */
export function benchRecords(from: number, count: number, spacingMs = 1): UsageRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    ...universeRecord(from + i),
    requestId: `req_${(from + i).toString(16).padStart(12, '0')}`,
    startedAtMs: Date.parse('2026-05-01') + (from + i) * spacingMs,
  }));
}
