// The fleet chaos run, CI size: three `entente serve` nodes behind HAProxy on one PostgreSQL and
// one Redis, every node killed with SIGKILL once and restarted, the primary cloud's faults
// flipping. `npm run chaos` runs the full version (10,000 requests at concurrency 100).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { pgUrl } from './helpers/backends.js';
import { fleetRun } from './helpers/fleet-run.js';

const redisUrl = process.env.ENTENTE_TEST_REDIS_URL;
const haproxy = spawnSync('haproxy', ['-v']).status === 0;
const skip = !pgUrl
  ? 'PostgreSQL is not reachable'
  : !redisUrl
    ? 'Redis is not reachable'
    : !haproxy && process.env.ENTENTE_REQUIRE_SERVICES !== '1'
      ? 'haproxy is not installed (apt-get install -y haproxy)'
      : false;

test('three nodes behind HAProxy, each killed once: no success loses or doubles its record or posting', {
  skip,
}, async () => {
  const seed = Math.floor(Math.random() * 100_000);
  const r = await fleetRun({ requests: 1_500, concurrency: 30, seed, pgUrl: pgUrl!, redisUrl: redisUrl! });
  const why = `seed ${seed}: ${JSON.stringify({ ...r, lost: r.lost.slice(0, 5), doubled: r.doubled.slice(0, 5), missingPostings: r.missingPostings.slice(0, 5), usageMismatches: r.usageMismatches.slice(0, 5) })}`;
  assert.equal(r.kills, 3, why);
  // Enough traffic to prove something. Not an availability figure: when the random kills fall
  // close together (seed 60130 kills two nodes 9 requests apart), requests fail fast while both
  // restart, and that seed gave 799 to 1,010 successes of 1,500, before this session's changes
  // as after; the floor of 1,000 this had failed such runs at random.
  assert.ok(r.successes > 600 && r.streams > 0 && r.embeddings > 0, why);
  assert.deepEqual(r.lost, [], why);
  assert.deepEqual(r.doubled, [], why);
  assert.deepEqual(r.missingPostings, [], why);
  assert.equal(r.unposted, 0, why);
  assert.deepEqual(r.usageMismatches, [], why);
  assert.equal(r.accruedMicros, r.expectedAccruedMicros, why);
  assert.ok(BigInt(r.accruedMicros) <= BigInt(r.capMicros), why);
});
