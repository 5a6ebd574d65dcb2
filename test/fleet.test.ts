// A fleet of gateway nodes on one PostgreSQL and one Redis: a failure seen by one node cools the
// deployment on every node (measured), a rollout event made on one node is applied by the others
// at once (measured), a recovery probed by one node closes the breaker everywhere, and the node
// registry lists every node with its heartbeat and whether its configuration matches.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { type Simulator, startSimulator } from '../sim/index.js';
import type { Gateway } from '../src/server/index.js';
import type { PostgresStore } from '../src/store/index.js';
import { pgUrl } from './helpers/backends.js';
import { eventually } from './helpers/eventually.js';
import { fleetNode, fleetSchema } from './helpers/fleet-schema.js';
import { DEMO_KEY } from './helpers/stack.js';

const redisUrl = process.env.ENTENTE_TEST_REDIS_URL;
const skip = !pgUrl ? 'PostgreSQL is not reachable' : !redisUrl ? 'Redis is not reachable' : false;
const ADMIN_KEY = 'sk-fleet-admin';

describe('a fleet on PostgreSQL and Redis', { skip }, () => {
  let fleet: { schema: string; drop(): Promise<void> };
  let schema = '';
  const namespace = `fleet-${randomBytes(4).toString('hex')}`;
  let azure: Simulator;
  let openai: Simulator;
  const nodes: { gateway: Gateway; url: string; store: PostgresStore }[] = [];

  async function node(id: string, extra = '') {
    const n = await fleetNode({
      id,
      pgUrl: pgUrl!,
      schema,
      redisUrl: redisUrl!,
      azure,
      openai,
      keyRefreshMs: 60_000,
      stack: {
        server: `  adminKeySha256: ${createHash('sha256').update(ADMIN_KEY).digest('hex')}`,
        extraYaml: `cluster: { namespace: ${namespace}, heartbeatMs: 200 }\n${extra}`,
      },
    });
    nodes.push(n);
    return n;
  }

  const admin = async (n: { url: string }, method: string, path: string, body?: unknown) => {
    const r = await fetch(`${n.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: r.status, json: (await r.json()) as Record<string, unknown> };
  };

  before(async () => {
    fleet = await fleetSchema(pgUrl!, 'fleet');
    schema = fleet.schema;
    azure = await startSimulator({ kind: 'azure-openai', apiKey: 'azure-secret' });
    openai = await startSimulator({ kind: 'openai', apiKey: 'openai-secret' });
    // Seed the keys once: the nodes share the store.
    await node('node-a');
    await node('node-b');
  });

  after(async () => {
    for (const n of nodes) {
      await n.gateway.close();
      await n.store.close();
    }
    await Promise.all([azure?.close(), openai?.close()]);
    await fleet.drop();
  });

  test('a failure seen by one node cools the deployment on every node at once; a recovery closes it everywhere', async (t) => {
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const key = 'azure-eastus/gpt-4o-prod';
    const delays: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      a.gateway.context.health.failure(key, a.gateway.context.clock.now(), 5000, 'rate_limited');
      await eventually(
        () => b.gateway.context.health.snapshot(Date.now())[key]?.state === 'open',
        'node b to cool it',
      );
      delays.push(performance.now() - t0);
      // A's probe later succeeds: both close.
      a.gateway.context.health.acquire(key, Date.now() + 10_000);
      a.gateway.context.health.success(key);
      await eventually(
        () => b.gateway.context.health.snapshot(Date.now())[key]?.state === 'closed',
        'node b to close it',
      );
    }
    delays.sort((x, y) => x - y);
    const p99 = delays[Math.ceil(0.99 * delays.length) - 1]!;
    t.diagnostic(
      `cooldown propagation over 20 failures: p50 ${delays[9]!.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms`,
    );
    // The figure is a measurement (reported above; 28 ms p99 on an idle machine); the assertion
    // only tells a message from a poll, with room for a loaded CI machine.
    assert.ok(p99 < 1000, `cooldown propagation p99 ${p99.toFixed(1)} ms`);
    // Node b waits a little longer than a before probing (a probes first).
    a.gateway.context.health.failure(key, Date.now(), 5000, 'rate_limited');
    await eventually(() => b.gateway.context.health.snapshot(Date.now())[key]?.state === 'open', 'b open');
    const untilA = a.gateway.context.health.snapshot(Date.now())[key]!.openUntilMs;
    const untilB = b.gateway.context.health.snapshot(Date.now())[key]!.openUntilMs;
    assert.equal(untilB - untilA, 1000, 'cluster.probeGraceMs');
    const moves = (await admin(b, 'GET', '/v1/entente/health')).json.transitions as { reason: string }[];
    assert.match(moves[0]!.reason, /^peer node-a/);
    a.gateway.context.health.acquire(key, untilA);
    a.gateway.context.health.success(key);
    await eventually(
      () => b.gateway.context.health.snapshot(Date.now())[key]?.state === 'closed',
      'b closed',
    );
  });

  test('a rollout event made on one node is applied by the others at once, not at their poll', async (t) => {
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const seqOf = (n: (typeof nodes)[0]) => n.gateway.context.routes.table.rolloutSeq;
    const t0 = performance.now();
    const r = await admin(a, 'POST', '/v1/entente/rollout/events', {
      kind: 'stage',
      model: 'gpt-4o',
      modelVersion: '2024-11-20',
      cloud: 'azure',
      stage: 'ga',
    });
    assert.equal(r.status, 201);
    await eventually(() => seqOf(b) === r.json.seq, 'node b to apply the event');
    // No agreement here, so the route table's poll is off: only the notice could have done it.
    const ms = performance.now() - t0;
    t.diagnostic(`rollout change applied on the other node ${ms.toFixed(1)} ms after the request was sent`);
    assert.ok(ms < 1000);
  });

  test('a key created through one node works on the others at once (their key poll is a minute)', async () => {
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const c = await admin(a, 'POST', '/v1/entente/keys', { tenant: 'globex', id: 'fleet-key' });
    assert.equal(c.status, 201);
    const ask = (n: (typeof nodes)[0]) =>
      fetch(`${n.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${c.json.key as string}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
      }).then(async (r) => {
        await r.arrayBuffer();
        return r.status;
      });
    await eventually(async () => (await ask(b)) === 200, 'node b to know the new key');
    const r = await admin(a, 'POST', '/v1/entente/keys/revoke/fleet-key');
    assert.equal(r.status, 200);
    await eventually(async () => (await ask(b)) === 401, 'node b to refuse the revoked key');
  });

  test('the registry lists every node with its heartbeat, and flags a node whose config differs', async () => {
    await node('node-c', 'observability: { accessLog: false }');
    const [a] = nodes;
    await eventually(async () => {
      const list = (await admin(a!, 'GET', '/v1/entente/nodes')).json.nodes as {
        nodeId: string;
        live: boolean;
        configMatches: boolean;
        url: string;
      }[];
      const byId = new Map(list.map((n) => [n.nodeId, n]));
      return (
        byId.get('node-a')?.live === true &&
        byId.get('node-b')?.configMatches === true &&
        byId.get('node-c')?.live === true &&
        byId.get('node-c')?.configMatches === false
      );
    }, 'three live nodes, node-c flagged');
    // And a request through any node is served and recorded in the one store.
    const r = await fetch(`${nodes[2]!.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(r.status, 200);
    const id = r.headers.get('x-request-id')!;
    await nodes[2]!.gateway.context.usageLog.flush();
    assert.equal((await nodes[0]!.store.listUsage({ requestId: id })).length, 1);
  });

  test('any node shows the whole fleet’s traffic, from the per-minute roll-ups, for every range', async () => {
    const before = (await admin(nodes[1]!, 'GET', '/v1/entente/traffic?window=1h')).json as {
      totals: { requests: number };
    };
    for (const [i, n] of nodes.entries())
      for (let k = 0; k <= i; k++) {
        const r = await fetch(`${n.url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: `from ${i}` }] }),
        });
        assert.equal(r.status, 200);
      }
    await Promise.all(nodes.map((n) => n.gateway.context.usageLog.flush()));
    const sent = (nodes.length * (nodes.length + 1)) / 2;
    for (const w of ['1h', '24h', '7d', '30d']) {
      const t = (await admin(nodes[1]!, 'GET', `/v1/entente/traffic?window=${w}`)).json as {
        window: string;
        totals: { requests: number };
        buckets: unknown[];
      };
      assert.equal(t.window, w);
      assert.ok(t.totals.requests >= before.totals.requests + sent, `${w}: ${t.totals.requests}`);
    }
    const bad = await admin(nodes[0]!, 'GET', '/v1/entente/traffic?window=2h');
    assert.equal(bad.status, 400);
  });
});
