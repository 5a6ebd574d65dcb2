// PostgreSQL dies in the middle of traffic: the gateway keeps serving (usage waits in the spool,
// the writer retries), and when the database is back every record is stored and posted exactly
// once. A private PostgreSQL server of the test's own is crashed and restarted; never the shared one.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Simulator, startSimulator } from '../sim/index.js';
import { seedKeys } from '../src/cli/serve.js';
import { parseConfigText } from '../src/config/index.js';
import { assertRowsBalanced, parsePriceBooks } from '../src/ledger/index.js';
import { createGateway, type Gateway } from '../src/server/index.js';
import { PostgresStore } from '../src/store/index.js';
import { eventually } from './helpers/eventually.js';
import {
  type PrivatePostgres,
  privatePostgres,
  privatePostgresUnavailable,
} from './helpers/private-postgres.js';
import { SIM_PRICES_YAML, simGatewayYaml } from './helpers/sim-gateway-config.js';

const KEY = 'sk-test-pg-outage';
const unavailable = privatePostgresUnavailable();

describe('PostgreSQL dies mid-traffic', { skip: unavailable ?? false }, () => {
  let server: PrivatePostgres;
  let sim: Simulator;
  let store: PostgresStore;
  let gateway: Gateway;
  let url: string;

  async function startGatewayOn(
    maxBacklogRecords: number,
    dir = mkdtempSync(join(tmpdir(), 'entente-pg-outage-')),
  ): Promise<{ gateway: Gateway; url: string; dir: string }> {
    const config = parseConfigText(
      simGatewayYaml({
        dir,
        sim,
        key: KEY,
        server: 'port: 0, shutdownGraceMs: 1500',
        extraYaml: `usage: { flushIntervalMs: 10, maxBacklogRecords: ${maxBacklogRecords} }`,
        ledgerIntervalMs: 100,
      }),
      join(dir, 'entente.yaml'),
      {},
    );
    await seedKeys(store, config);
    const gw = await createGateway({
      config,
      store,
      spoolDir: join(dir, 'spool'),
      agreementFile: join(dir, 'agreement.yaml'),
      priceBooks: parsePriceBooks(SIM_PRICES_YAML, 'prices.yaml'),
    });
    return { gateway: gw, url: await gw.listen(), dir };
  }

  before(async () => {
    server = await privatePostgres();
    sim = await startSimulator({ kind: 'openai', apiKey: 'k' });
    store = new PostgresStore(server.url);
    await store.migrate();
    ({ gateway, url } = await startGatewayOn(200_000));
  });
  after(async () => {
    await gateway?.close();
    await store?.close();
    await sim?.close();
    server?.destroy();
  });

  const ask = async (stream: boolean, base = url): Promise<string> => {
    const r = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gpt-4o-mini',
        stream,
        messages: [{ role: 'user', content: 'still there?' }],
      }),
    });
    const body = await r.text();
    assert.equal(r.status, 200, body);
    if (stream) assert.ok(body.endsWith('data: [DONE]\n\n'));
    return r.headers.get('x-request-id')!;
  };

  test('the gateway serves through the outage; afterwards every record is stored and posted once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await ask(i % 2 === 0));
    await gateway.context.usageLog.flush();
    assert.equal(await store.countUsage(), 10);

    server.crash();
    for (let i = 0; i < 40; i++) ids.push(await ask(i % 2 === 0));
    // The records wait in the spool: the database has none of them.
    assert.ok(gateway.context.usageLog.pending >= 40, `pending ${gateway.context.usageLog.pending}`);

    server.start();
    await eventually(
      async () => {
        await gateway.context.usageLog.flush();
        return (await store.countUsage()) === 50;
      },
      'the spool to drain into the restarted database',
      30_000,
    );
    const stored = await store.listUsage({ limit: 1000 });
    assert.deepEqual(stored.map((u) => u.requestId).sort(), [...ids].sort());
    await eventually(async () => (await store.pendingUsage(1)).length === 0, 'every record posted', 30_000);
    const rows = await store.ledgerRows();
    assertRowsBalanced(rows);
    assert.equal(new Set(rows.filter((r) => r.code === 'revenue').map((r) => r.txId)).size, 50);
  });

  test('past usage.maxBacklogRecords new requests get 503 usage_backlog_full; after the outage they are served again', async () => {
    const small = await startGatewayOn(100);
    try {
      server.crash();
      const served: string[] = [];
      for (let i = 0; i < 100; i++) served.push(await ask(false, small.url));
      const refused = await fetch(`${small.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'one more' }] }),
      });
      assert.equal(refused.status, 503);
      assert.equal(refused.headers.get('x-should-retry'), 'true');
      assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'usage_backlog_full');
      server.start();
      await eventually(
        async () => {
          await small.gateway.context.usageLog.flush();
          return small.gateway.context.usageLog.pending === 0;
        },
        'the backlog to drain',
        30_000,
      );
      served.push(await ask(true, small.url));
      await small.gateway.context.usageLog.flush();
      const stored = new Set((await store.listUsage({ limit: 10_000 })).map((u) => u.requestId));
      for (const id of served) assert.ok(stored.has(id), id);
    } finally {
      await small.gateway.close();
    }
  });

  test('a frozen PostgreSQL: serving goes on, /metrics answers, shutdown completes; the next start recovers', async () => {
    const first = await startGatewayOn(200_000);
    const ids: string[] = [];
    let closed = false;
    try {
      server.freeze();
      for (let i = 0; i < 20; i++) ids.push(await ask(i % 2 === 0, first.url));
      const t0 = performance.now();
      const metrics = await fetch(`${first.url}/metrics`);
      assert.equal(metrics.status, 200);
      assert.ok(performance.now() - t0 < 5_000, 'a scrape does not wait for the frozen database');
      const t1 = performance.now();
      await first.gateway.close();
      closed = true;
      assert.ok(performance.now() - t1 < 15_000, 'shutdown does not wait for the frozen database');
    } finally {
      server.thaw();
      if (!closed) await first.gateway.close();
    }
    // The next start on the same data folder recovers what the frozen database never took.
    const second = await startGatewayOn(200_000, first.dir);
    try {
      await second.gateway.context.usageLog.flush();
      const stored = new Set((await store.listUsage({ limit: 10_000 })).map((u) => u.requestId));
      for (const id of ids) assert.ok(stored.has(id), id);
    } finally {
      await second.gateway.close();
    }
  });
});
