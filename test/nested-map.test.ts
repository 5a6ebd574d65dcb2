// NestedMap (src/collections): a map keyed by tuples, as the writer's tallies and caches use it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { NestedMap } from '../src/collections/index.js';

test('a NestedMap answers as a Map keyed by the whole tuple, for any tuples of one length', () => {
  const part = fc.oneof(fc.string({ maxLength: 3 }), fc.integer({ min: -2, max: 2 }), fc.constant(null));
  fc.assert(
    fc.property(
      fc
        .integer({ min: 1, max: 4 })
        .chain((n) =>
          fc.array(fc.tuple(fc.array(part, { minLength: n, maxLength: n }), fc.nat()), { maxLength: 40 }),
        ),
      (ops) => {
        const nested = new NestedMap<number>(ops[0]?.[0].length ?? 1);
        // The reference: a Map keyed by an unambiguous encoding of the tuple.
        const ref = new Map<string, number>();
        const enc = (k: readonly unknown[]) => JSON.stringify(k.map((x) => [typeof x, x]));
        for (const [k, v] of ops) {
          if (v % 3 === 0) assert.equal(nested.get(k), ref.get(enc(k)));
          else {
            nested.set(k, v);
            ref.set(enc(k), v);
          }
        }
        for (const [k] of ops) assert.equal(nested.get(k), ref.get(enc(k)));
      },
    ),
    { numRuns: 500 },
  );
});

test('tuples that a joined key string would confuse stay apart', () => {
  const m = new NestedMap<string>(2);
  m.set(['a\u0000b', 'c'], 'first');
  m.set(['a', 'b\u0000c'], 'second');
  m.set([1, 'x'], 'number');
  assert.equal(m.get(['a\u0000b', 'c']), 'first');
  assert.equal(m.get(['a', 'b\u0000c']), 'second');
  assert.equal(m.get(['1', 'x']), undefined, 'the number 1 is not the string "1"');
  assert.equal(m.get([1, 'x']), 'number');
  assert.throws(() => m.get(['a']), RangeError, 'a key of another length is a bug');
  assert.throws(() => m.set(['a', 'b', 'c'], 'x'), RangeError);
});
