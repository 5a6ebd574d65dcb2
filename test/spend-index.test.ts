// A budget's reconcile reads the period's spend rows in its scope: the index that narrows the scan
// to a key's, a key lineage's or a tenant's rows must sum exactly what a scan of every row sums,
// for every shape of scope.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { LimitRule } from '../src/limits/index.js';
import { matches, SpendIndex } from '../src/limits/reconcile.js';
import type { SpendRow } from '../src/store/index.js';

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
