// A usage record's attempt log, as the store keeps it: a failed attempt's usage (what its cloud
// had begun billing) comes back as it was written, and a stored log whose usage is not whole,
// non-negative token counts with an `exact` flag is refused when read, never passed on as counts.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import Database from 'better-sqlite3';
import { type AttemptRecord, SqliteStore } from '../src/store/index.js';
import { usageRecord } from './helpers/records.js';

const path = join(mkdtempSync(join(tmpdir(), 'entente-attempt-log-')), 'e.db');
let store: SqliteStore;
before(async () => {
  store = new SqliteStore(path);
  await store.migrate();
});
after(() => store.close());

const failed: AttemptRecord = {
  deployment: 'anthropic/claude-opus-4-1',
  outcome: 'connect',
  status: null,
  code: null,
  durationMs: 41,
  usage: { tokensInputUncached: 15, tokensInputCached: 3, tokensOutput: 0, tokensReasoning: 2, exact: false },
};
const served: AttemptRecord = {
  deployment: 'bedrock/amazon.nova-pro-v1:0',
  outcome: 'served',
  status: 200,
  code: null,
  durationMs: 12,
};

test("a failed attempt's usage comes back from the store as it was written", async () => {
  await store.appendUsage([usageRecord('req_attempt_ok', { attempts: 2, attemptLog: [failed, served] })]);
  const [rec] = await store.listUsage({ limit: 1 });
  assert.deepEqual(rec?.attemptLog, [failed, served]);
});

test('a stored attempt usage that is not whole non-negative counts with an exact flag is refused', async () => {
  const hostile: unknown[] = [
    { ...failed.usage, tokensInputUncached: -1 },
    { ...failed.usage, tokensOutput: 1.5 },
    { ...failed.usage, tokensReasoning: '2' },
    { ...failed.usage, tokensInputCached: null },
    { ...failed.usage, exact: 'false' },
    { tokensInputUncached: 15, tokensInputCached: 3, tokensOutput: 0, tokensReasoning: 2 },
    null,
    [15, 3, 0, 2],
    'lots',
  ];
  const raw = new Database(path);
  try {
    for (const [i, usage] of hostile.entries()) {
      const id = `req_attempt_bad_${i}`;
      await store.appendUsage([usageRecord(id, { attempts: 2 })]);
      raw
        .prepare('UPDATE usage_records SET attempt_log = ? WHERE request_id = ?')
        .run(JSON.stringify([{ ...failed, usage }, served]), id);
      await assert.rejects(
        () => store.listUsage({ requestId: id }),
        `attempt usage ${JSON.stringify(usage)} must be refused`,
      );
      raw.prepare('DELETE FROM usage_records WHERE request_id = ?').run(id);
    }
  } finally {
    raw.close();
  }
  // With the hostile rows gone, the store reads again.
  assert.equal((await store.listUsage({ limit: 1 }))[0]?.requestId, 'req_attempt_ok');
});
