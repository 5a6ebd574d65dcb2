// The cap under concurrency: four OS processes post overlapping, shuffled, duplicated usage with
// retries to one PostgreSQL at once. The final accrual must equal min(cap, floor(rate × Σ revenue))
// exactly, every usage record must be posted exactly once, and the ledger must balance.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { parseAgreementText } from '../src/agreements/index.js';
import { balances, parsePriceBooks, priceOf, revenuePicoOf } from '../src/ledger/index.js';
import { PostgresStore } from '../src/store/index.js';
import { universe, WORKER_AGREEMENT, WORKER_PRICES } from './helpers/ledger-worker.js';

const pgUrl = process.env.ENTENTE_TEST_PG_URL;
const worker = fileURLToPath(new URL('./helpers/ledger-worker.js', import.meta.url));
const N = 400;

test('four processes accruing against one PostgreSQL never overshoot the cap, and count nothing twice', {
  skip: pgUrl ? false : 'PostgreSQL is not reachable',
}, async () => {
  const schema = `entente_procs_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const store = new PostgresStore(pgUrl!, { schema });
  await store.migrate();
  try {
    const runs = [0, 1, 2, 3].map(
      (i) =>
        new Promise<{ index: number; posted: number }>((resolve, reject) => {
          const p = spawn(process.execPath, [worker, pgUrl!, schema, String(i), String(N)], {
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let out = '';
          let err = '';
          p.stdout.on('data', (d) => {
            out += d;
          });
          p.stderr.on('data', (d) => {
            err += d;
          });
          p.once('exit', (code) =>
            code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`worker ${i} exited ${code}: ${err}`)),
          );
        }),
    );
    const results = await Promise.all(runs);
    assert.equal(
      results.reduce((a, r) => a + r.posted, 0),
      N,
      'each usage record was posted by exactly one process',
    );

    const books = parsePriceBooks(WORKER_PRICES, 'p.yaml');
    const agreement = parseAgreementText(WORKER_AGREEMENT, 'a.yaml');
    const share = agreement.versions[0]!.terms.revenueShares[0]!;
    // Exact revenue, booked per tenant as floor(Σ / 10⁶): nothing lost to per-request rounding.
    const perTenant = new Map<string, bigint>();
    let exact = 0n;
    for (const u of universe(N)) {
      const pico = revenuePicoOf(priceOf(books, u.model, u.modelVersion, u.startedAtMs)!.entry, u);
      perTenant.set(u.tenantId, (perTenant.get(u.tenantId) ?? 0n) + pico);
      exact += pico;
    }
    const revenue = [...perTenant.values()].reduce((a, v) => a + v / 1_000_000n, 0n);
    const uncapped = (exact * share.rate.num) / (share.rate.den * 1_000_000n);
    const cap = share.cap!.amount;
    assert.ok(uncapped > cap, `the test must reach the cap (uncapped ${uncapped} vs cap ${cap})`);

    const b = await balances(store);
    assert.equal(-(b.get('revenue:op') ?? 0n), revenue, 'revenue counted exactly once');
    assert.equal(-(b.get('revshare-payable:partner:acme/share') ?? 0n), cap, 'accrued exactly the cap');
    assert.equal(
      [...b.values()].reduce((a, x) => a + x, 0n),
      0n,
      'the ledger balances',
    );
    const state = (await store.accrualStates()).get('acme/share@v1')!;
    assert.equal(state.revenueMicros * 1_000_000n + state.remainderPico, exact);
    assert.equal(state.accruedMicros, cap);
    const rows = await store.ledgerRows();
    assert.equal(new Set(rows.filter((r) => r.code === 'revenue').map((r) => r.txId)).size, N);
  } finally {
    await store.close();
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.end();
  }
});
