// Durability under SIGKILL, CI size: the real `entente serve` killed 5 times at random moments
// under JSON and streamed load, restarted each time. Every request whose complete answer reached
// the client has exactly one usage record and one ledger posting afterwards; the ledger balances
// and `entente usage replay` agrees. `npm run chaos:crash` runs the long version.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crashRun } from './helpers/crash-run.js';

test('SIGKILL at random moments, 5 times: no complete answer loses or doubles its record or posting', async () => {
  const seed = Math.floor(Math.random() * 100_000);
  const r = await crashRun({ kills: 5, concurrency: 12, answersPerLife: [30, 150], seed });
  const why = `seed ${seed}: ${JSON.stringify({ ...r, lost: r.lost.slice(0, 5), doubled: r.doubled.slice(0, 5) })}`;
  assert.equal(r.kills, 5, why);
  assert.ok(r.completed > 5 * 30 && r.completedStreams > 0, why);
  assert.deepEqual(r.lost, [], why);
  assert.deepEqual(r.doubled, [], why);
  assert.deepEqual(r.missingPostings, [], why);
  assert.equal(r.unposted, 0, why);
  assert.ok(r.usageRecords >= r.completed, why);
  assert.match(r.replay, /identical/, why);
});
