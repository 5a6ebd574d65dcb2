// What a heavy read of the embedded SQLite store costs the thread that serves, side by side in one
// run: the same month of per-minute spend rows (what the budget reconcile reads every minute, and
// the console's spend page), read on the calling thread (better-sqlite3 runs a query there) and
// through the store's read thread (src/store/sqlite/read-thread.ts), as a gateway opens it. While
// each read runs, a 1 ms timer on the calling thread measures how long it is held up: the longest
// gap between its ticks is the stall every request on that thread would have waited.
//
//   npm run bench:reads            BENCH_KEYS=1000 BENCH_MINUTES=1000 BENCH_ROUNDS=3
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { READ_THREAD_NICE, SqliteStore } from '../src/store/index.js';
import { median, stallWhile } from './processes.js';

const keys = Number(process.env.BENCH_KEYS ?? 1_000);
const minutes = Number(process.env.BENCH_MINUTES ?? 1_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const monthStart = Date.UTC(2026, 11, 1);

const path = join(mkdtempSync(join(tmpdir(), 'entente-reads-bench-')), 'entente.db');
const setup = new SqliteStore(path);
await setup.migrate();
await setup.close();
{
  // Rows spread over the month: each key active in `minutes` minutes of it.
  const db = new Database(path);
  const insert = db.prepare('INSERT INTO usage_spend VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  const step = Math.max(1, Math.floor((30 * 1_440) / minutes)) * 60_000;
  db.transaction(() => {
    for (let m = 0; m < minutes; m++)
      for (let k = 0; k < keys; k++)
        insert.run(monthStart + m * step, `t${k % 50}`, `key-${k}`, 'gpt-4o', 'azure', 'USD', 3, 1_234);
  })();
  db.close();
}

/** The read's time, and the longest the calling thread's 1 ms timer waited meanwhile. */
async function measure(
  store: SqliteStore,
  read: (s: SqliteStore) => Promise<unknown> = (s) =>
    s.spendByScope(monthStart, monthStart + 31 * 86_400_000),
): Promise<{ readMs: number; stallMs: number }> {
  const f = await stallWhile(() => read(store));
  return { readMs: f.ms, stallMs: f.stallMs };
}

const onThread = new SqliteStore(path);
const offThread = new SqliteStore(path, { readThread: { nice: READ_THREAD_NICE } });
const results = {
  on: [] as { readMs: number; stallMs: number }[],
  off: [] as { readMs: number; stallMs: number }[],
};
await offThread.spendByScope(0, 1); // the read thread is up before it is measured
for (let r = 0; r < rounds; r++) {
  results.on.push(await measure(onThread));
  results.off.push(await measure(offThread));
}

// The spend page's answer, both through the read thread: every scope's row, grouped by key here
// and sent whole (as GET /v1/entente/spend did), against the store's summary (the 100 largest of
// each dimension with their counts, ranked in SQL). The figure is the answer's size and the
// calling thread's stall: rows that cross from the read thread are decoded on the calling one.
let bytes = { every: 0, summary: 0 };
const pageOf = {
  async every(s: SqliteStore) {
    const rows = await s.spendByScope(monthStart, monthStart + 31 * 86_400_000);
    const byKey = new Map<string, { requests: number; micros: bigint }>();
    for (const r of rows) {
      const cur = byKey.get(r.keyId) ?? { requests: 0, micros: 0n };
      byKey.set(r.keyId, { requests: cur.requests + r.requests, micros: cur.micros + r.micros });
    }
    const body = JSON.stringify([...byKey].map(([name, v]) => ({ name, ...v, micros: String(v.micros) })));
    bytes = { ...bytes, every: body.length };
  },
  async summary(s: SqliteStore) {
    const sum = await s.spendSummary(monthStart, monthStart + 31 * 86_400_000, { top: 100 });
    const body = JSON.stringify(sum.by.key.top.map((g) => ({ ...g, micros: String(g.micros) })));
    bytes = { ...bytes, summary: body.length };
  },
};
const page = { every: [] as { readMs: number; stallMs: number }[], summary: [] as typeof results.on };
for (let r = 0; r < rounds; r++) {
  page.every.push(await measure(offThread, pageOf.every));
  page.summary.push(await measure(offThread, pageOf.summary));
}
await onThread.close();
await offThread.close();

const med = (xs: { readMs: number; stallMs: number }[], k: 'readMs' | 'stallMs') =>
  median(xs.map((x) => x[k]));
console.log(
  `a month of spend, ${(keys * minutes).toLocaleString('en')} per-minute rows, median of ${rounds} rounds`,
);
for (const [name, xs] of [
  ['on the calling thread', results.on],
  ['on the read thread', results.off],
] as const)
  console.log(
    `${name.padEnd(22)} read ${med(xs, 'readMs').toFixed(0).padStart(6)} ms   longest stall of the calling thread ${med(xs, 'stallMs').toFixed(1).padStart(7)} ms`,
  );
console.log(
  `stall, read thread / calling thread: ×${(med(results.off, 'stallMs') / med(results.on, 'stallMs')).toFixed(4)}`,
);
console.log(`\nthe spend page's answer by key (${keys.toLocaleString('en')} keys), through the read thread`);
for (const [name, xs, size] of [
  ['every key (before)', page.every, bytes.every],
  ['the 100 largest', page.summary, bytes.summary],
] as const)
  console.log(
    `${name.padEnd(22)} read ${med(xs, 'readMs').toFixed(0).padStart(6)} ms   longest stall of the calling thread ${med(xs, 'stallMs').toFixed(1).padStart(7)} ms   ${size.toLocaleString('en')} bytes`,
  );
