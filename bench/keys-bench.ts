// What a key change costs a node's serving thread, with many keys, side by side in one run: the
// full reload a node did for every change (read and decode every key, rebuild the key ring,
// recompile every key's limits) against the catch-up it does now (read the keys the change log
// names since the node's version, update the ring and the limits of those keys only). The same
// store, the same keys; each key has its own limits, as a platform that gives every team a budget
// runs them. Each figure is the median of several rounds, each round one change.
//
//   npm run bench:keys            BENCH_KEYS=10000,100000 BENCH_ROUNDS=5
//   ENTENTE_BENCH_PG_URL=postgres://root@127.0.0.1:5432/test npm run bench:keys   (PostgreSQL too)
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { hashKey, KeyRing } from '../src/gateway/index.js';
import { LimitSet } from '../src/limits/index.js';
import { type ApiKeyRecord, PostgresStore, SqliteStore, type Store } from '../src/store/index.js';
import { median } from './processes.js';

const sizes = (process.env.BENCH_KEYS ?? '10000,100000').split(',').map(Number);
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const pgUrl = process.env.ENTENTE_BENCH_PG_URL;

function keyOf(i: number): ApiKeyRecord {
  return {
    id: `team-${i}`,
    tenantId: `tenant-${i % 50}`,
    sha256: hashKey(`sk-bench-${i}`),
    models: ['*'],
    createdAtMs: 1,
    revokedAtMs: null,
    limits: { requestsPerMinute: 600, budget: { amount: '100', period: 'month' } },
  };
}

async function fill(store: Store, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await store.putApiKey(keyOf(i));
}

/** Milliseconds `fn` took. */
async function timed(fn: () => Promise<void>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function measure(name: string, store: Store, n: number): Promise<void> {
  await fill(store, n);
  let version = await store.apiKeysVersion();
  const ring = new KeyRing(await store.listApiKeys());
  let rules = LimitSet.from(undefined, await store.listApiKeys());
  const full: number[] = [];
  const catchUp: number[] = [];
  for (let r = 0; r < rounds; r++) {
    // One key's limits change, as POST /v1/entente/keys/limits/:id does.
    await store.putApiKey({ ...keyOf(r), limits: { requestsPerMinute: 10 + r } });
    full.push(
      await timed(async () => {
        const keys = await store.listApiKeys();
        ring.replace(keys);
        rules = LimitSet.from(undefined, keys);
      }),
    );
    catchUp.push(
      await timed(async () => {
        const c = await store.apiKeyChangesSince(version);
        if (!c) throw new Error('the change log should reach back one version');
        ring.update(c.keys, c.removed);
        rules.applyKeys(c.keys, c.removed);
        version = c.version;
      }),
    );
  }
  if (rules.matching(`team-${rounds - 1}`, `tenant-${(rounds - 1) % 50}`, 'm')[0]?.rpm !== 10 + rounds - 1)
    throw new Error('the last change is not in force');
  const f = median(full);
  const c = median(catchUp);
  console.log(
    `${name.padEnd(10)} ${String(n).padStart(7)} keys   full reload ${f.toFixed(1).padStart(7)} ms   catch-up ${c.toFixed(2).padStart(6)} ms   ×${(f / c).toFixed(0)} less`,
  );
}

console.log(`a change to one key, median of ${rounds} rounds (each key with its own limits)`);
for (const n of sizes) {
  const sqlite = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'entente-keys-bench-')), 'entente.db'));
  await sqlite.migrate();
  await measure('sqlite', sqlite, n);
  await sqlite.close();
  if (pgUrl) {
    const schema = `entente_keys_bench_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: pgUrl });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    const store = new PostgresStore(pgUrl, { schema });
    try {
      await store.migrate();
      await measure('postgres', store, n);
    } finally {
      await store.close();
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
    }
  }
}
