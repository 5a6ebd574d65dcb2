// Usage ingestion and accrual throughput (records per second through postUsage, batches of BATCH (2000, as usage.batchSize),
// one capped revenue-share term) on the embedded SQLite store and on PostgreSQL, side by side,
// with the raw usage-log append (no ledger) as the baseline on each store.
// Run: npm run bench:ledger   (PostgreSQL at ENTENTE_TEST_PG_URL or 127.0.0.1:5432/test)
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { parseAgreementText } from '../src/agreements/index.js';
import { parsePriceBooks, postUsage } from '../src/ledger/index.js';
import { PostgresStore, SqliteStore, type Store, type UsageRecord } from '../src/store/index.js';
import { universe, WORKER_AGREEMENT, WORKER_PRICES } from '../test/helpers/ledger-worker.js';

const N = Number(process.env.RECORDS ?? 20_000);
// Arrival spacing of the records: 1 ms is 1,000 requests/s (a batch spans a few seconds, so the
// per-minute roll-ups get a handful of rows per batch); 60000 gives every record its own minute
// (one roll-up row per record: the worst case).
const SPACING_MS = Number(process.env.SPACING_MS ?? 1);
const at = (rs: UsageRecord[]) =>
  rs.map((r, i) => ({ ...r, startedAtMs: Date.parse('2026-05-01') + (i % N) * SPACING_MS }));
const BATCH = Number(process.env.BATCH ?? 2000);
const setup = {
  priceBooks: parsePriceBooks(WORKER_PRICES, 'p.yaml'),
  agreement: parseAgreementText(WORKER_AGREEMENT.replace('0.300000', '1000000'), 'a.yaml'),
  owner: 'op',
};

async function measure(store: Store) {
  const records = at(universe(N));
  let t0 = performance.now();
  for (let i = 0; i < N; i += BATCH) await store.appendUsage(records.slice(i, i + BATCH));
  const appendPerS = N / ((performance.now() - t0) / 1000);
  t0 = performance.now();
  for (let i = 0; i < N; i += BATCH) await postUsage(store, records.slice(i, i + BATCH), setup);
  const postPerS = N / ((performance.now() - t0) / 1000);
  // The spool writer's path: fresh records stored, priced and posted in one unit of work.
  const fresh = at(universe(2 * N).slice(N));
  t0 = performance.now();
  for (let i = 0; i < N; i += BATCH)
    await postUsage(store, fresh.slice(i, i + BATCH), setup, { storeRecords: true });
  const unitPerS = N / ((performance.now() - t0) / 1000);
  return {
    appendPerS: Math.round(appendPerS),
    postPerS: Math.round(postPerS),
    unitPerS: Math.round(unitPerS),
  };
}

const rows: string[] = [];
const sqlite = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'entente-ledger-bench-')), 'l.db'));
await sqlite.migrate();
const s = await measure(sqlite);
await sqlite.close();
rows.push(
  `| SQLite | ${s.appendPerS} | ${s.postPerS} | ×${(s.postPerS / s.appendPerS).toFixed(2)} | ${s.unitPerS} |`,
);

const url = process.env.ENTENTE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `entente_bench_${randomBytes(4).toString('hex')}`;
const admin = new pg.Client({ connectionString: url });
try {
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const pgStore = new PostgresStore(url, { schema });
  await pgStore.migrate();
  const p = await measure(pgStore);
  await pgStore.close();
  rows.push(
    `| PostgreSQL | ${p.appendPerS} | ${p.postPerS} | ×${(p.postPerS / p.appendPerS).toFixed(2)} | ${p.unitPerS} |`,
  );
} catch (err) {
  rows.push(`| PostgreSQL | not measured: ${(err as Error).message} | | | |`);
} finally {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
  await admin.end().catch(() => undefined);
}

process.stdout.write(
  `# Ledger ingestion (${N} usage records, batches of ${BATCH}, one capped share term)\n\n| store | usage append rec/s (baseline) | priced + posted + accrued rec/s (stored earlier) | ratio | stored + priced + posted in one unit rec/s (the spool writer's path) |\n|---|---|---|---|---|\n${rows.join('\n')}\n`,
);
