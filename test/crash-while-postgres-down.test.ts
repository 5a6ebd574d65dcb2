// The two failures at once: PostgreSQL crashes, the gateway keeps serving (usage waits in its
// spool on local disk), and then the gateway itself is killed with SIGKILL before the database
// returns. When both come back, every request whose complete answer reached a client has exactly
// one usage record and one ledger posting. The real `entente serve`, on a private PostgreSQL.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startSimulator } from '../sim/index.js';
import { assertRowsBalanced } from '../src/ledger/index.js';
import { PostgresStore } from '../src/store/index.js';
import { CRASH_KEY, oneRequest, startGateway } from './helpers/crash-run.js';
import { privatePostgres, privatePostgresUnavailable } from './helpers/private-postgres.js';
import { freePort } from './helpers/random.js';
import { lostAndDoubled } from './helpers/records.js';
import { writeSimGatewayConfig } from './helpers/sim-gateway-config.js';

test('SIGKILL while PostgreSQL is down: nothing whose answer was complete is lost or doubled', {
  skip: privatePostgresUnavailable() ?? false,
}, async () => {
  const pg = await privatePostgres();
  const sim = await startSimulator({ kind: 'openai', apiKey: 'k', latencyMs: 1, tokensPerSecond: 2_000 });
  const dir = mkdtempSync(join(tmpdir(), 'entente-kill-pg-down-'));
  const port = await freePort();
  const cfg = writeSimGatewayConfig({
    dir,
    sim,
    key: CRASH_KEY,
    server: `port: ${port}, shutdownGraceMs: 3000`,
  });
  const env = { ...process.env, DATABASE_URL: pg.url };
  const url = `http://127.0.0.1:${port}`;
  const completed: string[] = [];
  const burst = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const id = await oneRequest(url, i % 2 === 0, 3 + (i % 20));
      if (id) completed.push(id);
    }
  };
  try {
    let life = await startGateway(cfg, env);
    await burst(20);
    pg.crash();
    await burst(40); // served from the spool's side: the database is gone
    assert.equal(
      completed.length,
      60,
      `every request was answered while PostgreSQL was down (gateway exit code: ${life.proc.exitCode})`,
    );
    life.proc.kill('SIGKILL');
    await life.exited;
    pg.start();
    life = await startGateway(cfg, env);
    await burst(10);
    life.proc.kill('SIGTERM');
    assert.equal(await life.exited, 0);
    const store = new PostgresStore(pg.url);
    try {
      const usage = await store.listUsage({ limit: 100_000 });
      const { lost, doubled } = lostAndDoubled(usage, completed);
      assert.deepEqual([lost, doubled], [[], []], 'exactly one record each');
      const rows = await store.ledgerRows();
      assertRowsBalanced(rows);
      const revenue = new Set(rows.filter((r) => r.code === 'revenue').map((r) => r.txId));
      assert.deepEqual(
        completed.filter((id) => !revenue.has(`revenue:${id}`)),
        [],
        'one posting each',
      );
      assert.equal((await store.pendingUsage(1000)).length, 0);
      assert.ok(life.recovered() >= 40, `the restart recovered the spooled records (${life.recovered()})`);
    } finally {
      await store.close();
    }
  } finally {
    await sim.close();
    pg.destroy();
  }
});
