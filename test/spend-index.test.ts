// A budget's reconcile reads the period's spend rows in its scope: the index that narrows the scan
// to a key's, a key lineage's or a tenant's rows must sum exactly what a scan of every row sums,
// for every shape of scope.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { Limiter, LimitRule } from '../src/limits/index.js';
import { BudgetReconciler, matches, RECENT_MS, SpendIndex } from '../src/limits/reconcile.js';
import type { SpendRow, Store } from '../src/store/index.js';

const tenant = fc.constantFrom('t0', 't1', 't2');
const key = fc.constantFrom('k0', 'k1', 'k1.r2', 'k1.r3', 'k2', 'k2.r2');
const model = fc.constantFrom('m0', 'm1');
const row: fc.Arbitrary<SpendRow> = fc.record({
  tenantId: tenant,
  keyId: key,
  model,
  cloud: fc.constantFrom(null, 'azure', 'aws'),
  currency: fc.constant('USD'),
  micros: fc.bigInt({ min: 0n, max: 10n ** 12n }),
  requests: fc.nat(1_000),
});
const rule: fc.Arbitrary<LimitRule> = fc.record({
  id: fc.constant('r'),
  keyId: fc.option(fc.constantFrom('k0', 'k1', 'k1.r2', 'k9')),
  keyBase: fc.option(fc.constantFrom('k1', 'k2', 'k9')),
  tenantId: fc.option(fc.constantFrom('t0', 't1', 't9')),
  model: fc.option(fc.constantFrom('m0', 'm1', 'm9')),
  rpm: fc.constant(null),
  tpm: fc.constant(null),
  concurrent: fc.constant(null),
  budget: fc.constant({ amountMicros: 1n, period: 'month' as const, alertAt: [] }),
});

test('the spend index sums exactly the rows a scan of every row matches, for any scope', () => {
  fc.assert(
    fc.property(
      fc.array(row, { maxLength: 60 }),
      fc.array(rule, { minLength: 1, maxLength: 20 }),
      (rows, rules) => {
        const index = new SpendIndex(rows);
        for (const r of rules) {
          let scan = 0n;
          for (const x of rows) if (matches(r, x)) scan += x.micros;
          assert.equal(index.spendOf(r), scan, JSON.stringify({ ...r, budget: null }));
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('a rule whose scope names nothing in the period sums zero; an unscoped rule sums every row', () => {
  const rows: SpendRow[] = [
    { tenantId: 't0', keyId: 'k0', model: 'm0', cloud: null, currency: 'USD', micros: 5n, requests: 1 },
    { tenantId: 't1', keyId: 'k1.r2', model: 'm1', cloud: 'aws', currency: 'USD', micros: 7n, requests: 1 },
  ];
  const base: LimitRule = {
    id: 'r',
    keyId: null,
    keyBase: null,
    tenantId: null,
    model: null,
    rpm: null,
    tpm: null,
    concurrent: null,
    budget: { amountMicros: 1n, period: 'month', alertAt: [] },
  };
  const index = new SpendIndex(rows);
  assert.equal(index.spendOf(base), 12n);
  assert.equal(index.spendOf({ ...base, keyBase: 'k1' }), 7n, 'a lineage sums its rotated keys');
  assert.equal(index.spendOf({ ...base, keyId: 'k1' }), 0n, 'a key id is that key alone');
  assert.equal(index.spendOf({ ...base, tenantId: 'nobody' }), 0n);
  assert.equal(new SpendIndex([]).spendOf(base), 0n);
});

// The reconcile pass by pass: a counter is raised to its ledger spend when behind; passes between
// full ones read only the minutes since the cut and ask only about rules whose spend moved. Lost
// settles (spend the counter never saw), lost counters (a key Redis evicted) and spend posted late
// into older minutes (a recovered spool) are mixed in at random, with time moving on.
test('every counter is at or above its ledger after each pass, asking only about rules whose spend moved', async () => {
  const rulesOf = (): LimitRule[] => {
    const base = { rpm: null, tpm: null, concurrent: null, keyBase: null, model: null };
    const budget = { amountMicros: 10n ** 15n, period: 'month' as const, alertAt: [] };
    return [
      ...['k0', 'k1', 'k2', 'k3'].map((k) => ({ ...base, id: `key:${k}`, keyId: k, tenantId: null, budget })),
      { ...base, id: 'tenant:t1', keyId: null, tenantId: 't1', budget },
      { ...base, id: 'all', keyId: null, tenantId: null, budget },
    ];
  };
  const step = fc.oneof(
    fc.record({
      op: fc.constant('spend' as const),
      key: fc.constantFrom('k0', 'k1', 'k2', 'k3', 'k9'),
      micros: fc.bigInt({ min: 1n, max: 1_000n }),
      settled: fc.boolean(),
      // Minutes before now that the request started: most are recent, some posted late.
      agoMin: fc.oneof(
        fc.constant(0),
        fc.integer({ min: 0, max: 14 }),
        fc.integer({ min: 16, max: 60 }),
        fc.integer({ min: 61, max: 600 }),
      ),
    }),
    fc.record({ op: fc.constant('lose' as const), rule: fc.constantFrom(...rulesOf().map((r) => r.id)) }),
    fc.record({
      op: fc.constant('pass' as const),
      full: fc.boolean(),
      laterMin: fc.integer({ min: 0, max: 30 }),
    }),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.array(step, { maxLength: 60 }),
      fc.integer({ min: 1, max: 4 }),
      // A gateway whose reservations live longer than RECENT_MS reads that far back instead.
      fc.constantFrom(RECENT_MS, 45 * 60_000, 60_000),
      async (steps, every, recentMs) => {
        const rules = rulesOf();
        type Row = SpendRow & { readonly minuteMs: number };
        const rows: Row[] = [];
        const counters = new Map<string, bigint>();
        const asked = new Map<string, bigint>();
        let calls: string[] = [];
        const limiter = {
          async reconcile(r: LimitRule, _period: string, ledger: bigint) {
            calls.push(r.id);
            asked.set(r.id, ledger);
            const c = counters.get(r.id) ?? 0n;
            if (c < ledger) counters.set(r.id, ledger);
            return c - ledger;
          },
        } as unknown as Limiter;
        const store = {
          spendByScope: async (from: number, until: number) =>
            rows.filter((x) => x.minuteMs >= from && x.minuteMs < until),
        } as unknown as Store;
        const reconciler = new BudgetReconciler(store, every, recentMs);
        let now = Date.UTC(2026, 11, 3, 12);
        const sum = (r: LimitRule, of: readonly Row[]) => new SpendIndex(of).spendOf(r);
        // What the reconciler can see between full passes: the rows before its cut as they were at
        // the last full pass, and every row since the cut.
        let cut = 0;
        let base: Row[] = [];
        const visible = () => [...base, ...rows.filter((x) => x.minuteMs >= cut)];
        const lost = new Set<string>();
        let passes = 0;
        for (const s of steps) {
          if (s.op === 'spend') {
            const minuteMs = Math.floor((now - s.agoMin * 60_000) / 60_000) * 60_000;
            const row = { tenantId: s.key === 'k1' ? 't1' : 't0', keyId: s.key, model: 'm', cloud: null };
            const spend = { ...row, currency: 'USD', micros: s.micros, requests: 1 };
            rows.push({ ...spend, minuteMs });
            // A settle adds to each counter of its scope; a lost one adds nothing.
            if (s.settled)
              for (const r of rules)
                if (matches(r, spend)) counters.set(r.id, (counters.get(r.id) ?? 0n) + s.micros);
          } else if (s.op === 'lose') {
            counters.delete(s.rule);
            lost.add(s.rule);
          } else {
            now += s.laterMin * 60_000;
            const full = s.full || passes % every === 0;
            passes++;
            const before = new Map(asked);
            if (full) {
              cut = Math.floor((now - Math.max(RECENT_MS, recentMs)) / 60_000) * 60_000;
              base = rows.filter((x) => x.minuteMs < cut);
            }
            calls = [];
            const pass = await reconciler.run(rules, limiter, now, { full: s.full });
            assert.equal(pass.full, full);
            assert.equal(pass.checked + pass.unchanged, rules.length);
            // Asked about: every rule on a full pass; else exactly those whose visible spend moved.
            const moved = rules.filter((r) => before.get(r.id) !== sum(r, visible())).map((r) => r.id);
            assert.deepEqual(calls.sort(), full ? rules.map((r) => r.id).sort() : moved.sort());
            for (const id of calls)
              assert.equal(asked.get(id), sum(rules.find((r) => r.id === id)!, visible()));
            if (full) lost.clear();
            for (const id of calls) lost.delete(id);
            // Every counter not lost is at or above the ledger it could see; after a full pass, above
            // the whole ledger.
            for (const r of rules)
              if (!lost.has(r.id))
                assert.ok(
                  (counters.get(r.id) ?? 0n) >= sum(r, full ? rows : visible()),
                  `${r.id} behind its ledger after a pass`,
                );
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});
