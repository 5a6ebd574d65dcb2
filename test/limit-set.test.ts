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

test('applyKeys gives exactly the rules LimitSet.from gives for the keys as they end up, whatever the changes', () => {
  const config = limitsSchema.parse({
    rules: [
      { id: 'tenant', scope: { tenant: 't0' }, requestsPerMinute: 100 },
      { id: 'named', scope: { key: 'k1' }, tokensPerMinute: 1_000 },
      { id: 'model', scope: { model: 'm1' }, concurrentRequests: 4 },
    ],
  });
  const limits = fc.oneof(
    fc.constant(undefined),
    fc.record({ requestsPerMinute: fc.integer({ min: 1, max: 50 }) }),
    fc.record({ models: fc.constant({ m0: { tokensPerMinute: 77 } }), concurrentRequests: fc.constant(2) }),
    fc.constant({ requestsPerMinute: -1 }), // does not parse: the key has no rules
  );
  const key = fc.record({ id: keyId, limits });
  const step = fc.record({
    changed: fc.array(key, { maxLength: 3 }),
    removed: fc.array(keyId, { maxLength: 2 }),
  });
  const view = (rules: readonly LimitRule[]) =>
    rules.map((r) => `${r.id}/${r.keyId}/${r.rpm}/${r.tpm}`).sort();
  fc.assert(
    fc.property(fc.array(key, { maxLength: 4 }), fc.array(step, { maxLength: 6 }), (initial, steps) => {
      const state = new Map(initial.map((k) => [k.id, k]));
      const set = LimitSet.from(config, [...state.values()]);
      // After every step, every caller (so the next step must forget the matches it changes).
      for (const s of steps) {
        for (const id of s.removed) state.delete(id);
        for (const k of s.changed) state.set(k.id, k);
        // A key both changed and removed in one catch-up is read as it is now: changed wins.
        const removed = s.removed.filter((id) => !s.changed.some((k) => k.id === id));
        set.applyKeys(s.changed, removed);
        const fresh = LimitSet.from(config, [...state.values()]);
        assert.deepEqual(view(set.rules), view(fresh.rules));
        assert.deepEqual(
          set.byId.map((r) => r.id),
          [...new Set(fresh.rules.map((r) => r.id))].sort(),
          'every rule id once, in order',
        );
        assert.equal(set.empty, fresh.empty);
        for (const k of ['k0', 'k1', 'k1.r2', 'k2'])
          for (const t of ['t0', 't1'])
            for (const m of ['m0', 'm1']) assert.deepEqual(set.matching(k, t, m), fresh.matching(k, t, m));
      }
    }),
    { numRuns: 300 },
  );
});
