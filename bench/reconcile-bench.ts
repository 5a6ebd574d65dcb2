import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  BudgetReconciler,
  type Limiter,
  type LimitRule,
  LimitSet,
  LocalLimiter,
  periodAt,
  SpendIndex,
} from '../src/limits/index.js';
import { READ_THREAD_NICE, SqliteStore } from '../src/store/index.js';
import { loneRedisLimiter } from '../test/helpers/redis-limiter.js';
import { median, stallWhile } from './processes.js';

const keys = Number(process.env.BENCH_KEYS ?? 100_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const redisUrl = process.env.ENTENTE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const now = Date.UTC(2026, 11, 15, 12);
const minute = Math.floor(now / 60_000) * 60_000;

const path = join(mkdtempSync(join(tmpdir(), 'entente-reconcile-bench-')), 'entente.db');
const setup = new SqliteStore(path);
await setup.migrate();
await setup.close();
const db = new Database(path);
const insert = db.prepare(
  `INSERT INTO usage_spend VALUES (?, ?, ?, 'gpt-4o', 'azure', 'USD', 1, ?)
   ON CONFLICT (minute_ms, tenant_id, key_id, model, cloud, currency) DO UPDATE SET requests = requests + 1, micros = micros + excluded.micros`,
);
const spend = (from: number, n: number, atMs: number) =>
  db.transaction(() => {
    for (let k = from; k < from + n; k++) insert.run(atMs, `t${k % 50}`, `key-${k}`, 1_000 + (k % 7));
  })();
// Every key spent earlier in the month.
spend(0, keys, minute - 86_400_000);

const rules = LimitSet.from(
  undefined,
  Array.from({ length: keys }, (_, k) => ({
    id: `key-${k}`,
    tenantId: `t${k % 50}`,
    limits: { budget: { amount: '1000', period: 'month' as const } },
  })),
).rules;
const store = new SqliteStore(path, { readThread: { nice: READ_THREAD_NICE } });
await store.spendByScope(0, 1); // the read thread is up before it is measured

/** The reconcile as it was: every rule, one limiter call at a time. */
async function before(limiter: Limiter, rs: readonly LimitRule[]) {
  const p = periodAt('month', now);
  const index = new SpendIndex(await store.spendByScope(p.startMs, p.endMs));
  for (const r of rs) await limiter.reconcile(r, p.id, index.spendOf(r));
}

interface Figure {
  readonly ms: number;
  readonly cpuMs: number;
  readonly stallMs: number;
}
const measure = stallWhile;

const limiters: [string, () => Promise<Limiter>][] = [
  ['in process', async () => new LocalLimiter({ reservationTtlMs: 900_000, onAlert: () => {} })],
  ['Redis', () => loneRedisLimiter(redisUrl, { prefix: 'reconcile-bench' })],
];

console.log(
  `# Budget reconcile: a budget on each of ${keys.toLocaleString('en')} keys, median of ${rounds} rounds, on the calling thread\n`,
);
console.log('| limiter | pass | rules compared | time | CPU of the calling thread | its longest stall |');
console.log('|---|---|---|---|---|---|');
let fresh = keys;
for (const [name, open] of limiters) {
  const limiter = await open();
  const figures = { before: [] as Figure[], full: [] as Figure[], next: [] as Figure[] };
  let compared = { full: 0, next: 0 };
  for (let r = 0; r < rounds; r++) {
    const reconciler = new BudgetReconciler(store, 10);
    figures.before.push(await measure(() => before(limiter, rules)));
    figures.full.push(
      await measure(async () => {
        compared = { ...compared, full: (await reconciler.run(rules, limiter, now)).checked };
      }),
    );
    // 1% of the keys spend (new keys each round, so their spend moved), then the next pass.
    spend(fresh % keys, keys / 100, minute);
    fresh += keys / 100;
    figures.next.push(
      await measure(async () => {
        compared = { ...compared, next: (await reconciler.run(rules, limiter, now)).checked };
      }),
    );
  }
  await limiter.close();
  const med = (xs: Figure[], k: keyof Figure) => median(xs.map((x) => x[k])).toFixed(0);
  for (const [pass, xs, n] of [
    ['before: every rule, one call at a time', figures.before, keys],
    ['full pass', figures.full, compared.full],
    ['next pass, after 1% of keys spent', figures.next, compared.next],
  ] as const)
    console.log(
      `| ${name} | ${pass} | ${n.toLocaleString('en')} | ${med(xs, 'ms')} ms | ${med(xs, 'cpuMs')} ms | ${med(xs, 'stallMs')} ms |`,
    );
}
await store.close();
db.close();
