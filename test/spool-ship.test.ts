// `entente spool ship DIR`: a node that never comes back leaves its spool; another machine ships
// it into the shared store. Every record is stored and posted once, and shipping again (or a
// spool already shipped by its own node) doubles nothing.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { encodeLine, segmentName } from '../src/spool/index.js';
import { SqliteStore } from '../src/store/index.js';
import { usageRecord } from './helpers/records.js';

const cli = fileURLToPath(new URL('../../bin/entente.js', import.meta.url));

test('spool ship stores and posts a dead node’s spool once, however often it is shipped', async () => {
  const root = mkdtempSync(join(tmpdir(), 'entente-ship-'));
  const dead = join(root, 'dead-node-spool');
  mkdirSync(dead);
  const records = Array.from({ length: 25 }, (_, i) =>
    usageRecord(`req_ship_${i}`, {
      tenantId: 'demo',
      model: 'gpt-4o',
      modelVersion: '2024-11-20',
      startedAtMs: Date.parse('2026-11-15T00:00:00Z') + i,
    }),
  );
  // What the dead node's serving thread wrote: complete lines, and a torn last one (never answered).
  writeFileSync(
    join(dead, segmentName(1)),
    `${records.map(encodeLine).join('')}${encodeLine(usageRecord('req_torn')).slice(0, 40)}`,
  );
  const env = { ...process.env, ENTENTE_DATA_DIR: join(root, 'data') };
  const ship = () => spawnSync(process.execPath, [cli, 'spool', 'ship', dead], { encoding: 'utf8', env });
  const first = ship();
  assert.equal(first.status, 0, first.stderr);
  assert.match(first.stdout, /25 records the database did not have were stored and posted/);
  assert.deepEqual(
    readdirSync(dead).filter((f) => f.endsWith('.spool')),
    [],
    'the shipped segments are removed',
  );
  // The same records left in another copy of the spool (say, a backup) ship as nothing new.
  writeFileSync(join(dead, segmentName(1)), records.map(encodeLine).join(''));
  const again = ship();
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /shipped .*: 0 records/);
  const store = new SqliteStore(join(root, 'data', 'entente.db'));
  await store.migrate();
  try {
    assert.equal(await store.countUsage(), 25);
    const revenue = (await store.ledgerRows()).filter((r) => r.code === 'revenue');
    assert.equal(new Set(revenue.map((r) => r.txId)).size, 25, 'each posted exactly once');
    assert.equal((await store.pendingUsage(10)).length, 0);
  } finally {
    await store.close();
  }
  const usage = spawnSync(process.execPath, [cli, 'spool', 'ship'], { encoding: 'utf8', env });
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /^entente: \[cli_usage\] missing required argument 'dir'/);
});
