// One OS process of the multi-process ledger test: it posts the shared universe of usage records
// to PostgreSQL in its own shuffled order, with duplicate deliveries and retried batches.
import { parseAgreementText } from '../../src/agreements/index.js';
import { parsePriceBooks, postUsage } from '../../src/ledger/index.js';
import { PostgresStore, type UsageRecord } from '../../src/store/index.js';
import { usageRecord } from './records.js';
import { shareAgreementYaml } from './share-agreement.js';

export const WORKER_PRICES = `currency: USD
books:
  - id: b1
    effectiveFrom: 2026-01-01T00:00:00Z
    prices:
      - { model: m, inputUncached: "3.00", inputCached: "0.30", output: "15.00" }
`;
export const WORKER_AGREEMENT = shareAgreementYaml({
  rate: '1/3',
  cap: '0.300000',
  from: '2026-01-01T00:00:00Z',
});

export function universe(n: number): UsageRecord[] {
  return Array.from({ length: n }, (_, i) => universeRecord(i));
}

/** The universe's record number i. */
export function universeRecord(i: number): UsageRecord {
  return usageRecord(`u${i}`, {
    tenantId: `t${i % 4}`,
    tokensInputUncached: 50 + ((i * 37) % 400),
    tokensInputCached: (i * 13) % 50,
    tokensOutput: 10 + ((i * 17) % 300),
    startedAtMs: Date.parse('2026-05-01') + i * 60_000,
  });
}

async function main(): Promise<void> {
  const [url, schema, indexArg, nArg] = process.argv.slice(2);
  const index = Number(indexArg);
  let seed = 1 + index * 7919;
  const random = () => {
    seed = (seed * 48271) % 2147483647;
    return seed / 2147483647;
  };
  const all = universe(Number(nArg));
  const deliveries = [...all, ...all.filter(() => random() < 0.3)];
  for (let i = deliveries.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [deliveries[i], deliveries[j]] = [deliveries[j]!, deliveries[i]!];
  }
  const store = new PostgresStore(url!, { schema: schema!, maxConnections: 2 });
  const setup = {
    priceBooks: parsePriceBooks(WORKER_PRICES, 'p.yaml'),
    agreement: parseAgreementText(WORKER_AGREEMENT, 'a.yaml'),
    owner: 'op',
  };
  let posted = 0;
  for (let i = 0; i < deliveries.length; ) {
    const size = 1 + Math.floor(random() * 12);
    const batch = deliveries.slice(i, i + size);
    posted += (await postUsage(store, batch, setup)).posted;
    if (random() < 0.25) posted += (await postUsage(store, batch, setup)).posted; // a retry after a lost acknowledgement
    i += size;
  }
  await store.close();
  process.stdout.write(`${JSON.stringify({ index, posted })}\n`);
}

if (process.argv[1]?.endsWith('ledger-worker.js')) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack}\n`);
    process.exit(1);
  });
}
