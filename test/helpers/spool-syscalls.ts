// Runs the usage spool on a SQLite store through segment rotations and a recovery, so that a test
// can watch its file-system calls (under strace) and check the order of what makes records
// durable: `node spool-syscalls.js <dir>`. A segment left as by a dead process is recovered at
// start; then 1,200 records go in over 60 event-loop turns into 16 KiB segments, with durability
// `os`; then the spool is flushed and closed.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../../src/observability/index.js';
import { encodeLine, segmentName, UsageSpool } from '../../src/spool/index.js';
import { SqliteStore } from '../../src/store/index.js';
import { usageRecord } from './records.js';

const dir = process.argv[2]!;
const record = (i: number) =>
  usageRecord(`req_sys_${String(i).padStart(6, '0')}`, { tokensInputUncached: i });

const store = new SqliteStore(join(dir, 'entente.db'));
await store.migrate();
const spoolDir = join(dir, 'spool');
mkdirSync(spoolDir, { recursive: true });
writeFileSync(join(spoolDir, segmentName(3)), [1, 2, 3].map((i) => encodeLine(record(i))).join(''));
const spool = await UsageSpool.open({
  dir: spoolDir,
  location: store.location,
  setup: null,
  batchSize: 50,
  flushIntervalMs: 5,
  fsyncIntervalMs: 2,
  nice: 0,
  scanIntervalMs: 100,
  durability: 'os',
  maxBacklogRecords: 1_000,
  segmentBytes: 16_384,
  log: silentLogger,
});
for (let turn = 0; turn < 60; turn++) {
  for (let i = 0; i < 20; i++) spool.append(record(10 + turn * 20 + i));
  await new Promise(setImmediate);
}
await spool.flush();
await spool.close();
process.stdout.write(`${JSON.stringify({ recovered: spool.recovered, stored: await store.countUsage() })}\n`);
await store.close();
