// The hand-checked path for common chat requests must accept only what the schema accepts and
// build exactly what it builds (the same JSON, key order included, in new objects); what it does
// not take, the schema judges. Requests are generated with every field valid, invalid or absent,
// in any key order, with roles, content and extra keys of other shapes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { commonChatRequest } from '../src/canonical/chat-request.js';
import { chatRequestSchema, parseChatRequest } from '../src/canonical/index.js';

const str = (max: number) => fc.string({ maxLength: max });
const longStr = (min: number, max: number) => fc.integer({ min, max }).map((n) => 'x'.repeat(n));
const anything = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  str(5),
  fc.constant([]),
  fc.constant({}),
);

/** Mostly the valid value, now and then another. */
const often = <T, U>(valid: fc.Arbitrary<T>, other: fc.Arbitrary<U>) =>
  fc.oneof({ arbitrary: valid, weight: 12 }, { arbitrary: other, weight: 1 });

const message = fc
  .record(
    {
      role: often(
        fc.constantFrom('system', 'developer', 'user', 'assistant'),
        fc.oneof(fc.constantFrom('tool', 'function', 'bogus', ''), anything),
      ),
      content: often(
        str(20),
        fc.oneof(fc.constant([{ type: 'text', text: 'hi' }]), fc.constant(null), anything),
      ),
      name: often(longStr(1, 3), fc.oneof(longStr(0, 300), anything)),
      tool_call_id: str(4),
      extra: anything,
    },
    { requiredKeys: ['role', 'content'] },
  )
  .chain((m) =>
    fc.record({ name: fc.boolean(), tool_call_id: fc.nat(20), extra: fc.nat(20) }).map((keep) => {
      const out: Record<string, unknown> = { ...m };
      if (!keep.name) delete out.name;
      if (keep.tool_call_id > 0) delete out.tool_call_id;
      if (keep.extra > 0) delete out.extra;
      return out;
    }),
  )
  .chain((m) =>
    fc
      .shuffledSubarray(Object.entries(m), { minLength: Object.keys(m).length })
      .map((e) => Object.fromEntries(e)),
  );

/** Strings of any length from 0 to `max`: a bound the schema changes is crossed whatever it becomes. */
const anyLength = (max: number) => fc.integer({ min: 0, max }).map((n) => 'x'.repeat(n));
const fields = {
  model: often(fc.constant('gpt-4o-mini'), fc.oneof(anyLength(300), anything)),
  messages: often(fc.array(message, { minLength: 1, maxLength: 4 }), fc.oneof(fc.constant([]), anything)),
  stream: often(fc.oneof(fc.boolean(), fc.constant(null)), anything),
  stream_options: often(
    fc.oneof(
      fc.constant(null),
      fc.record({ include_usage: fc.boolean(), include_obfuscation: fc.boolean() }, { requiredKeys: [] }),
    ),
    fc.oneof(fc.constant({ other: true }), fc.constant({ include_usage: 'yes' }), anything),
  ),
  max_tokens: often(
    fc.integer({ min: 1, max: 100 }),
    fc.oneof(fc.integer({ min: -5, max: 2_000_000 }), fc.constantFrom(0, -1, 2 ** 53, 1.5), anything),
  ),
  max_completion_tokens: often(fc.oneof(fc.integer({ min: 1, max: 100 }), fc.constant(null)), anything),
  user: often(str(10), fc.oneof(anyLength(600), anything)),
  temperature: often(
    fc.oneof(fc.double({ min: 0, max: 2, noNaN: true }), fc.constant(null)),
    fc.oneof(fc.double({ min: -3, max: 5, noNaN: true }), anything),
  ),
  top_p: often(
    fc.double({ min: 0, max: 1, noNaN: true }),
    fc.oneof(fc.double({ min: -3, max: 5, noNaN: true }), anything),
  ),
};
const extras = {
  n: fc.integer({ min: 0, max: 3 }),
  tools: fc.constant([]),
  metadata: fc.constant({ a: 'b' }),
};
const request = fc
  .tuple(
    fc.record(fields, { requiredKeys: ['model', 'messages'] }),
    fc.record(extras, { requiredKeys: [] }),
    fc.nat(3),
  )
  .map(([r, x, keepExtras]) => (keepExtras === 0 ? { ...r, ...x } : r))
  .chain((r) =>
    fc
      .shuffledSubarray(Object.entries(r), { minLength: Object.keys(r).length })
      .map((e) => Object.fromEntries(e)),
  );

test('the common path and the schema agree on every generated request, byte for byte', () => {
  let fast = 0;
  fc.assert(
    fc.property(request, (body) => {
      const z = chatRequestSchema.safeParse(body);
      const f = parseChatRequest(body);
      assert.equal(f.ok, z.success, JSON.stringify(body));
      if (f.ok && z.success)
        assert.equal(JSON.stringify(f.value), JSON.stringify(z.data), JSON.stringify(body));
      const c = commonChatRequest(body);
      if (c !== null) {
        fast++;
        assert.ok(z.success, `the common path took what the schema refuses: ${JSON.stringify(body)}`);
        assert.notEqual(c, body);
        assert.notEqual(c.messages, body.messages);
        for (const [i, m] of c.messages.entries()) assert.notEqual(m, (body.messages as unknown[])[i]);
      }
    }),
    { numRuns: 30_000 },
  );
  // A guard against a vacuous pass: the generator reaches the common path often.
  assert.ok(fast > 500, `${fast} requests took the common path`);
});

test('shipped-style requests take the common path; a name or field of another shape goes to the schema', () => {
  const plain = {
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'Say something short.' }],
    stream: true,
  };
  assert.notEqual(commonChatRequest(plain), null);
  assert.equal(JSON.stringify(commonChatRequest(plain)), JSON.stringify(chatRequestSchema.parse(plain)));
  for (const other of [
    { ...plain, tools: [] },
    { ...plain, messages: [{ role: 'tool', content: 'x', tool_call_id: 'a' }] },
    { ...plain, messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }] },
    { ...plain, messages: [{ role: 'user', content: 'x', name: '' }] },
    { ...plain, max_tokens: 2 ** 53 },
    JSON.parse('{"model":"m","messages":[{"role":"user","content":"x"}],"__proto__":{"x":1}}'),
    JSON.parse('{"model":"m","messages":[{"role":"user","content":"x","__proto__":{"x":1}}]}'),
  ])
    assert.equal(commonChatRequest(other), null, JSON.stringify(other));
});
