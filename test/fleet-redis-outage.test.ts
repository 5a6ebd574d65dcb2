// Redis dies under a fleet, and comes back empty: the nodes keep serving on their own breakers,
// a change made while it was down reaches the other node once they reconnect (the resync), and
// cooldowns propagate again. The test's own redis-server, never the machine's.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Simulator, startSimulator } from '../sim/index.js';
import { appendRolloutEvent } from '../src/rollout/index.js';
import type { Gateway } from '../src/server/index.js';
import type { PostgresStore } from '../src/store/index.js';
import { pgUrl } from './helpers/backends.js';
import { eventually } from './helpers/eventually.js';
import { fleetNode, fleetSchema } from './helpers/fleet-schema.js';
import { type PrivateRedis, privateRedis, privateRedisUnavailable } from './helpers/private-redis.js';
import { DEMO_KEY } from './helpers/stack.js';

const skip = !pgUrl ? 'PostgreSQL is not reachable' : (privateRedisUnavailable() ?? false);
let fleet: { schema: string; drop(): Promise<void> };
let schema = '';
let redis: PrivateRedis;
let azure: Simulator;
let openai: Simulator;
const nodes: { gateway: Gateway; store: PostgresStore; url: string }[] = [];

async function node(id: string) {
  nodes.push(
    await fleetNode({
      id,
      pgUrl: pgUrl!,
      schema,
      redisUrl: redis.url,
      azure,
      openai,
      stack: { extraYaml: 'cluster: { namespace: outage, heartbeatMs: 200 }' },
    }),
  );
}

before(async () => {
  if (skip) return;
  fleet = await fleetSchema(pgUrl!, 'redis_outage');
  schema = fleet.schema;
  redis = await privateRedis();
  azure = await startSimulator({ kind: 'azure-openai', apiKey: 'azure-secret' });
  openai = await startSimulator({ kind: 'openai', apiKey: 'openai-secret' });
  await node('a');
  await node('b');
});

after(async () => {
  if (skip) return;
  for (const n of nodes) {
    await n.gateway.close();
    await n.store.close();
  }
  await redis.kill();
  await Promise.all([azure.close(), openai.close()]);
  await fleet.drop();
});

test('Redis down: nodes serve on local health; back up: they reconnect, resync, and share again', {
  skip,
}, async () => {
  const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
  const key = 'azure-eastus/gpt-4o-prod';
  await redis.kill();
  await eventually(
    () => a.gateway.fleetConnected === false && b.gateway.fleetConnected === false,
    'the nodes to see Redis gone',
  );
  // Local breakers still work: a's own failure opens a's breaker; b, cut off, does not hear of it.
  a.gateway.context.health.failure(key, Date.now(), 5000, 'rate_limited');
  assert.equal(a.gateway.context.health.snapshot(Date.now())[key]?.state, 'open');
  assert.equal(b.gateway.context.health.snapshot(Date.now())[key], undefined);
  // Requests are served through either node (a fails over from its open Azure deployment).
  for (const n of [a, b]) {
    const r = await fetch(`${n.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'during the outage' }] }),
    });
    assert.equal(r.status, 200);
  }
  // A rollout event written while Redis is down: b misses the notice (and, with no agreement file,
  // has no poll of the log either).
  const r = await appendRolloutEvent(a.store, null, {
    kind: 'stage',
    model: 'gpt-4o',
    modelVersion: '2024-11-20',
    cloud: 'azure',
    region: 'eastus',
    stage: 'ga',
    evidence: 'during the outage',
    atMs: Date.now(),
  });
  assert.ok(r.ok);
  assert.notEqual(b.gateway.context.routes.table.rolloutSeq, r.ok ? r.seq : -1);
  // Redis returns, empty. Both reconnect; b's resync reads the log it missed.
  await redis.start();
  await eventually(
    () => a.gateway.fleetConnected === true && b.gateway.fleetConnected === true,
    'the nodes to reconnect',
  );
  await eventually(
    () => b.gateway.context.routes.table.rolloutSeq === (r.ok ? r.seq : -1),
    'b to resync the rollout log',
  );
  // And cooldowns propagate again.
  const other = 'openai/gpt-4o-2024-11-20';
  a.gateway.context.health.failure(other, Date.now(), 5000, 'rate_limited');
  await eventually(
    () => b.gateway.context.health.snapshot(Date.now())[other]?.state === 'open',
    'b to hear of the cooldown',
  );
});
