// The rules that count a request: LimitSet.matching finds them through an index of the rules by
// key (so that a new caller costs the same with 100,000 keys as with ten). Whatever the rules and
// the caller, it must find exactly the rules a scan of every rule finds, in the same order.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { limitsSchema } from '../src/config/index.js';
import { type LimitRule, LimitSet } from '../src/limits/index.js';

const keyId = fc.constantFrom('k0', 'k1', 'k1.r2', 'k2');
const tenantId = fc.constantFrom('t0', 't1');
const model = fc.constantFrom('m0', 'm1');
const rule: fc.Arbitrary<LimitRule> = fc.record({
  id: fc.string({ minLength: 1, maxLength: 4 }),
  keyId: fc.option(keyId),
  keyBase: fc.constant(null),
  tenantId: fc.option(tenantId),
  model: fc.option(model),
  rpm: fc.option(fc.integer({ min: 1, max: 100 })),
  tpm: fc.constant(null),
  concurrent: fc.constant(null),
  budget: fc.constant(null),
});

const scan = (rules: readonly LimitRule[], k: string, t: string, m: string) =>
  rules.filter(
    (r) =>
      (r.keyId === null || r.keyId === k) &&
      (r.tenantId === null || r.tenantId === t) &&
      (r.model === null || r.model === m),
  );

test('matching finds exactly the rules a scan of every rule finds, in their order, cached or not', () => {
  fc.assert(
    fc.property(
      fc.array(rule, { maxLength: 30 }),
      fc.array(fc.tuple(keyId, tenantId, model), { minLength: 1, maxLength: 10 }),
      (rules, callers) => {
        const set = new LimitSet(rules);
        // Each caller twice: the second answer comes from the cache.
        for (const [k, t, m] of [...callers, ...callers]) {
          const got = set.matching(k, t, m);
          assert.deepEqual(got, scan(rules, k, t, m));
          got.forEach((r, i) => {
            if (i > 0) assert.ok(rules.indexOf(got[i - 1]!) < rules.indexOf(r), 'in the order of the rules');
          });
        }
      },
    ),
    { numRuns: 300 },
  );
});

test("a caller matches its own key's rules and its tenant's, never another key's", () => {
  const keys = Array.from({ length: 5_000 }, (_, i) => ({
    id: `k${i}`,
    limits: { requestsPerMinute: 10 + i },
  }));
  const config = limitsSchema.parse({
    rules: [{ id: 'acme', scope: { tenant: 'acme' }, requestsPerMinute: 1_000 }],
  });
  const set = LimitSet.from(config, keys);
  const got = set.matching('k4321', 'acme', 'gpt-4o');
  assert.deepEqual(
    got.map((r) => [r.id, r.rpm]),
    [
      ['rule:acme', 1_000],
      ['key:k4321', 4_331],
    ],
  );
  assert.deepEqual(
    set.matching('k-none', 'acme', 'gpt-4o').map((r) => r.id),
    ['rule:acme'],
  );
});
