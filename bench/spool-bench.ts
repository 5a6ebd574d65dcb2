// The usage spool, measured: what one append costs the serving thread, and how long a record
// waits for its group commit (the window an OS crash could lose with `durability: process`, and
// the wait at the end of each answer with `durability: os`).
//
//   npm run bench:spool          SPOOL_RATE=2000 SPOOL_SECONDS=5 SPOOL_FSYNC_MS=5
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { silentLogger } from '../src/observability/index.js';
import { UsageSpool, writerNiceOf } from '../src/spool/index.js';
import { SqliteStore, type UsageRecord } from '../src/store/index.js';
import { usageRecord } from '../test/helpers/records.js';
import { median, percentile as pct } from './processes.js';

const rate = Number(process.env.SPOOL_RATE ?? 2_000);
const seconds = Number(process.env.SPOOL_SECONDS ?? 5);
const fsyncIntervalMs = Number(process.env.SPOOL_FSYNC_MS ?? 5);

let n = 0;
const record = (): UsageRecord =>
  usageRecord(`req_${String(n++).padStart(32, '0')}`, {
    tenantId: 'bench',
    keyId: 'bench',
    model: 'gpt-4o-mini',
    tokensInputUncached: 120,
    tokensOutput: 40,
    startedAtMs: Date.UTC(2026, 11, 1),
    latencyMs: 3.2,
    overheadUs: 180,
  });

async function open(durability: 'process' | 'os') {
  const dir = mkdtempSync(join(tmpdir(), 'entente-spool-bench-'));
  const store = new SqliteStore(join(dir, 'entente.db'));
  await store.migrate();
  await store.close();
  return UsageSpool.open({
    dir: join(dir, 'spool'),
    location: { kind: 'sqlite', path: join(dir, 'entente.db') },
    setup: null,
    batchSize: 500,
    flushIntervalMs: 20,
    fsyncIntervalMs,
    nice: writerNiceOf({ durability }),
    scanIntervalMs: 1_000,
    durability,
    maxBacklogRecords: 10_000_000,
    segmentBytes: 16 * 1_048_576,
    log: silentLogger,
  });
}

// 1. The serving thread's cost of one append (durability: process), in rounds of 10,000 records:
// one record per event-loop turn (each turn ends with its own write), and 16 per turn (one write
// for the 16, as when many requests finish in one turn). The turn's own cost is included.
const cost = await open('process');
const perAppendUs = new Map<number, number[]>([
  [1, []],
  [16, []],
]);
for (let r = 0; r < 7; r++)
  for (const [perTurn, out] of perAppendUs) {
    const t0 = performance.now();
    for (let i = 0; i < 10_000 / perTurn; i++) {
      for (let j = 0; j < perTurn; j++) cost.append(record());
      await new Promise(setImmediate);
    }
    out.push(((performance.now() - t0) * 1000) / 10_000);
    await cost.flush();
  }
await cost.close();

// 2. The wait for the group commit, at a steady rate (durability: os).
const durable = await open('os');
const waitsMs: number[] = [];
const perTick = Math.max(1, Math.round(rate / 1000));
await new Promise<void>((resolve) => {
  const until = performance.now() + seconds * 1000;
  const tick = setInterval(() => {
    if (performance.now() > until) {
      clearInterval(tick);
      resolve();
      return;
    }
    for (let i = 0; i < perTick; i++) {
      const t0 = performance.now();
      durable.append(record(), () => waitsMs.push(performance.now() - t0));
    }
  }, 1);
});
await durable.flush();
await durable.close();

process.stdout.write(
  `${[
    `# Usage spool (${seconds}s at about ${rate} records/s, fsyncIntervalMs ${fsyncIntervalMs})`,
    '',
    ...[...perAppendUs].map(
      ([perTurn, us]) =>
        `Serving-thread cost of one append (durability: process), ${perTurn} a turn: median ${median(us).toFixed(2)} µs over 7 rounds of 10,000 (${us.map((x) => x.toFixed(2)).join(', ')})`,
    ),
    `Wait until fsync'd (the OS-crash window with process; the end-of-answer wait with os): p50 ${pct(waitsMs, 50).toFixed(2)} ms, p99 ${pct(waitsMs, 99).toFixed(2)} ms, max ${Math.max(...waitsMs).toFixed(2)} ms over ${waitsMs.length} records`,
  ].join('\n')}\n`,
);
