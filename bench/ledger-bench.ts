// Usage ingestion and accrual throughput (records per second through postUsage, batches of BATCH
// (2000, as usage.batchSize), one capped revenue-share term) on the embedded SQLite store and on
// PostgreSQL, side by side, with the raw usage-log append (no ledger) as the baseline on each store.
// Each store runs ROUNDS rounds (5) of RECORDS fresh records (20,000) per measure, the measures
// taking turns, and reports each measure's median round: this VM's speed drifts by ±30% between
// runs, so one round is not a figure.
// Run: npm run bench:ledger   (PostgreSQL at ENTENTE_TEST_PG_URL or 127.0.0.1:5432/test)
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { postUsage, postUsageBatches } from '../src/ledger/index.js';
import { PostgresStore, SqliteStore, type Store, type UsageRecord } from '../src/store/index.js';
import { benchLedgerSetup, benchRecords } from './ledger-records.js';

const N = Number(process.env.RECORDS ?? 20_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
// Arrival spacing of the records: 1 ms is 1,000 requests/s (a batch spans a few seconds, so the
// per-minute roll-ups get a handful of rows per batch); 60000 gives every record its own minute
// (one roll-up row per record: the worst case).
const SPACING_MS = Number(process.env.SPACING_MS ?? 1);
const BATCH = Number(process.env.BATCH ?? 2000);
const setup = benchLedgerSetup;
/** Records of the slice [from, from + N) of the universe, with time-ordered ids and times. */
const recordsOf = (from: number): UsageRecord[] => benchRecords(from, N, SPACING_MS);

async function rate(records: readonly UsageRecord[], step: (batch: UsageRecord[]) => Promise<unknown>) {
  const t0 = performance.now();
  for (let i = 0; i < records.length; i += BATCH) await step(records.slice(i, i + BATCH));
  return records.length / ((performance.now() - t0) / 1000);
}

async function pipelinedRate(store: Store, records: readonly UsageRecord[]) {
  const t0 = performance.now();
  let at = 0;
  const next = () => {
    if (at >= records.length) return null;
    const batch = records.slice(at, at + BATCH);
    at += batch.length;
    return batch;
  };
  await postUsageBatches(store, next, setup, { storeRecords: true });
  return records.length / ((performance.now() - t0) / 1000);
}

const median = (xs: number[]) => Math.round([...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!);

async function measure(store: Store) {
  const append: number[] = [];
  const post: number[] = [];
  const unit: number[] = [];
  let next = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const stored = recordsOf(next);
    const fresh = recordsOf(next + N);
    next += 2 * N;
    append.push(await rate(stored, (b) => store.appendUsage(b)));
    post.push(await rate(stored, (b) => postUsage(store, b, setup)));
    // The spool writer's path: fresh records stored, priced and posted, a unit of work per batch,
    // the next batch prepared while the database writes one (postUsageBatches, as the writer runs).
    unit.push(await pipelinedRate(store, fresh));
  }
  return { appendPerS: median(append), postPerS: median(post), unitPerS: median(unit), unitAll: unit };
}

function row(name: string, m: Awaited<ReturnType<typeof measure>>): string {
  const all = m.unitAll.map((x) => Math.round(x)).join(', ');
  return `| ${name} | ${m.appendPerS} | ${m.postPerS} | ${m.unitPerS} (rounds: ${all}) | ×${(m.unitPerS / m.appendPerS).toFixed(2)} |`;
}

const rows: string[] = [];
const sqlite = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'entente-ledger-bench-')), 'l.db'));
await sqlite.migrate();
rows.push(row('SQLite', await measure(sqlite)));
await sqlite.close();

const url = process.env.ENTENTE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `entente_bench_${randomBytes(4).toString('hex')}`;
const admin = new pg.Client({ connectionString: url });
try {
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const pgStore = new PostgresStore(url, { schema });
  await pgStore.migrate();
  rows.push(row('PostgreSQL', await measure(pgStore)));
  await pgStore.close();
} catch (err) {
  rows.push(`| PostgreSQL | not measured: ${(err as Error).message} | | | |`);
} finally {
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
  await admin.end().catch(() => undefined);
}

process.stdout.write(
  `# Ledger ingestion (${ROUNDS} rounds of ${N} usage records per measure, medians; batches of ${BATCH}; one capped share term)

| store | usage append rec/s (baseline) | priced + posted + accrued rec/s (stored earlier) | stored + priced + posted in one unit rec/s (the spool writer's path) | the writer's path / append |
|---|---|---|---|---|
${rows.join('\n')}
`,
);
