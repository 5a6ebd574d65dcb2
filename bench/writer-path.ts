// The spool writer's database path in isolation, for bench/instructions-bench.ts, which runs this
// under callgrind with instrumentation off: stores WRITER_ROUNDS rounds of 5,000 fresh records in
// batches of 1,000 into a new SQLite database, either storing only (`append`, what plain Entente's
// writer does) or storing, pricing and posting them in one unit of work (`unit`, as shipped), and
// turns instrumentation on (callgrind_control) after the first WRITER_WARMUP rounds, so that only
// the JIT-compiled steady state is counted. Prints the number of records counted.
//
//   valgrind --tool=callgrind --instr-atstart=no node dist/bench/writer-path.js unit
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postUsageBatches } from '../src/ledger/index.js';
import { SqliteStore } from '../src/store/index.js';
import { benchLedgerSetup, benchRecords } from './ledger-records.js';

const RECORDS = 5000;
const BATCH = 1000;
const warmup = Number(process.env.WRITER_WARMUP ?? 5);
const rounds = Number(process.env.WRITER_ROUNDS ?? 3);
const mode = process.argv[2];
if (mode !== 'append' && mode !== 'unit') throw new Error('usage: writer-path.js append|unit');

const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'entente-writer-path-')), 'l.db'));
await store.migrate();
for (let r = 0; r < warmup + rounds; r++) {
  if (r === warmup) execFileSync('callgrind_control', ['-i', 'on', String(process.pid)], { stdio: 'ignore' });
  const records = benchRecords(r * RECORDS, RECORDS);
  if (mode === 'append') {
    for (let i = 0; i < RECORDS; i += BATCH) await store.appendUsage(records.slice(i, i + BATCH));
  } else {
    let at = 0;
    const next = () => {
      if (at >= RECORDS) return null;
      at += BATCH;
      return records.slice(at - BATCH, at);
    };
    await postUsageBatches(store, next, benchLedgerSetup, { storeRecords: true });
  }
}
await store.close();
process.stdout.write(`${JSON.stringify({ records: rounds * RECORDS })}\n`);
