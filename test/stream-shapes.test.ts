// The stream mappers read a chunk without parsing it when it has the shape of one they parsed
// before (src/providers/spec/chunk-shape.ts): OpenAI's content and tool-call chunks, Bedrock's and
// Anthropic's text deltas. These tests hold that shortcut to the parse: for any stream, and for
// chunks bent out of shape on purpose, every step equals the step of a parse of that chunk
// (mapOpenAIChunk, or the Bedrock and Anthropic mappers with shapes: false), and the shortcut is
// taken.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { createMessagesStreamMapper } from '../src/providers/anthropic/stream.js';
import { createConverseStreamMapper } from '../src/providers/bedrock/stream.js';
import { createGeminiStreamMapper } from '../src/providers/google/stream.js';
import type { StreamMapper, StreamStep } from '../src/providers/index.js';
import { createOpenAIStreamMapper, mapOpenAIChunk } from '../src/providers/openai/stream.js';
import { isJsonString } from '../src/providers/spec/index.js';
import type { SseEvent } from '../src/sse/index.js';

const opts = (clientWantsUsage: boolean) => ({
  clientWantsUsage,
  model: 'gpt-4o-mini',
  id: 'chatcmpl-t',
  created: 1,
});
const fresh = (clientWantsUsage: boolean, ev: SseEvent) => mapOpenAIChunk(ev, opts(clientWantsUsage));

/** A chunk as an OpenAI-compatible server writes it, its fields in the order `order` gives. */
function chunkOf(
  head: Record<string, unknown>,
  delta: Record<string, unknown>,
  finish: string | null,
  tail: object,
) {
  return JSON.stringify({
    ...head,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...tail,
  });
}

const head = fc.record(
  {
    id: fc.string({ maxLength: 12 }),
    object: fc.constant('chat.completion.chunk'),
    created: fc.nat(),
    model: fc.constantFrom('gpt-4o-mini', 'gpt-4.1', 'a"b'),
    system_fingerprint: fc.constantFrom('fp_1', 'fp_2'),
  },
  { requiredKeys: ['id', 'object', 'created', 'model'] },
);
const tail = fc.constantFrom({}, { usage: null }, { usage: null, service_tier: 'default' });
/** OpenAI's padding (`obfuscation`): a string of another length in every chunk, before or after the usage. */
const padding = fc.constantFrom('none', 'last', 'before usage', 'first');
const padded = (t: object, where: string, pad: string): object =>
  where === 'none' || where === 'first'
    ? t
    : where === 'last'
      ? { ...t, obfuscation: pad }
      : { obfuscation: pad, ...t };
/** A chunk padded where `where` says: first of all its fields, or after its choices. */
const paddedChunk = (
  h: Record<string, unknown>,
  delta: Record<string, unknown>,
  t: object,
  where: string,
  pad: string,
) => chunkOf(where === 'first' ? { obfuscation: pad, ...h } : h, delta, null, padded(t, where, pad));
const pad = fc.string({ unit: fc.constantFrom('a', 'Z', '0', '"', '\\'), maxLength: 9 });
const content = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({
    unit: fc.constantFrom('"', '\\', '/', '\n', '\u0000', 'u', 'a', ' ', 'é', '\ud83d'),
    maxLength: 8,
  }),
);
/** Raw text put where a content literal goes: valid literals, broken ones, and other values. */
const bent = fc.oneof(
  fc.string({
    unit: fc.constantFrom('"', '\\', 'u', '0', 'a', 'F', 'x', '\n', '\t', ' ', '}', ','),
    maxLength: 10,
  }),
  fc.constantFrom(
    '""',
    '"\\"',
    '"\\u12"',
    '"\\u12G4"',
    '"\\x"',
    '"a"b"',
    'null',
    '1',
    '{}',
    '["a"]',
    '"a\u0001"',
    '"',
  ),
);

/** The deltas of a stream whose varying string is its content, or its one tool call's arguments. */
const deltas = {
  content: {
    opening: { role: 'assistant', content: '' },
    with: (text: string) => ({ content: text }),
  },
  /** Some OpenAI-compatible servers name the role in every delta. */
  contentWithRole: {
    opening: { role: 'assistant', content: '' },
    with: (text: string) => ({ role: 'assistant', content: text }),
  },
  arguments: {
    opening: {
      role: 'assistant',
      content: null,
      tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '' } }],
    },
    with: (text: string) => ({ tool_calls: [{ index: 0, function: { arguments: text } }] }),
  },
};

/**
 * Two steps agree: the same fields, and frames of the same JSON. Where the parse passes the text
 * through, so must the shortcut; where it writes the chunk anew (a usage field to drop that is not
 * last), the shortcut's frame may keep the upstream's spacing and escapes.
 */
function sameStep(got: StreamStep, want: StreamStep, data: string): void {
  const { frames: gotFrames, ...gotRest } = got;
  const { frames: wantFrames, ...wantRest } = want;
  assert.deepEqual(gotRest, wantRest, data);
  assert.equal(gotFrames.length, wantFrames.length, data);
  for (let i = 0; i < wantFrames.length; i++) {
    if (wantFrames[i] === data) assert.equal(gotFrames[i], data);
    else assert.deepEqual(JSON.parse(gotFrames[i]!), JSON.parse(wantFrames[i]!), data);
  }
}

test('property: every step of the shortcut equals the parse, on any stream and any bent chunk', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(deltas.content, deltas.contentWithRole, deltas.arguments),
      head,
      tail,
      fc.boolean(),
      padding,
      fc.array(
        fc.oneof(
          fc.record({ c: content, pad }),
          fc.record({ raw: bent, pad }),
          // Text after a whole chunk: whitespace JSON allows, anything else it does not.
          fc.record({ c: content, pad, after: fc.constantFrom(' ', '\n', 'x', '}', ',"a":1}', '"') }),
        ),
        { minLength: 1, maxLength: 12 },
      ),
      (delta, h, t, clientWantsUsage, where, items) => {
        const m = createOpenAIStreamMapper(opts(clientWantsUsage));
        const marker = '\u0007marker\u0007';
        const events: SseEvent[] = [{ event: '', data: paddedChunk(h, delta.opening, t, where, '') }];
        for (const it of items) {
          const data =
            'c' in it
              ? paddedChunk(h, delta.with(it.c), t, where, it.pad) + ('after' in it ? it.after : '')
              : paddedChunk(h, delta.with(marker), t, where, it.pad).replace(JSON.stringify(marker), it.raw);
          events.push({ event: '', data });
        }
        events.push({ event: '', data: chunkOf(h, {}, 'stop', t) });
        events.push({ event: 'error', data: chunkOf(h, { content: 'x' }, null, t) });
        for (const ev of events) sameStep(m.map(ev), fresh(clientWantsUsage, ev), ev.data);
      },
    ),
    { numRuns: 1000 },
  );
});

test('a shape is learnt only where the delta content is: another field with the same text is not it', () => {
  // The delta's content is written escaped ("\u0041" is "A"); another object holds "content":"A" as
  // JSON.stringify writes it. Learning that place would call the next chunk's empty string the
  // delta's: a preamble, where the delta says "A".
  const chunk = (x: string) =>
    `{"id":"c","choices":[{"index":0,"delta":{"content":"\\u0041"},"x":{"content":${x}},"finish_reason":null}]}`;
  const m = createOpenAIStreamMapper(opts(false));
  m.map({ event: '', data: chunk('"A"') });
  const next = { event: '', data: chunk('""') };
  assert.deepEqual(m.map(next), { frames: [next.data] });
});

test('isJsonString: JSON string literals and only them', () => {
  for (const ok of [
    '""',
    '"a"',
    '"\\""',
    '"\\\\"',
    '"\\/"',
    '"\\b\\f\\n\\r\\t"',
    '"\\u00e9\\uD83D\\ude00"',
    '"é☕"',
  ])
    assert.equal(isJsonString(ok, 0, ok.length), true, ok);
  for (const bad of [
    '',
    '"',
    'a',
    '"a',
    'a"',
    '"\\"',
    '"a"b"',
    '"\\x"',
    '"\\u12"',
    '"\\u12G4"',
    '"\n"',
    '"\u001f"',
    "'a'",
  ])
    assert.equal(isJsonString(bad, 0, bad.length), false, JSON.stringify(bad));
  fc.assert(
    fc.property(
      fc.string({
        unit: fc.constantFrom('"', '\\', 'u', '0', 'a', 'F', 'x', 'n', '\n', '/', ' '),
        maxLength: 12,
      }),
      (raw) => {
        const text = `"${raw}"`;
        let parses = true;
        try {
          parses = typeof JSON.parse(text) === 'string';
        } catch {
          parses = false;
        }
        assert.equal(isJsonString(text, 0, text.length), parses, text);
        assert.equal(isJsonString(`[${text},`, 1, text.length + 1), parses, text);
      },
    ),
    { numRuns: 3000 },
  );
});

/** How many times `fn` calls JSON.parse. */
function parsesIn(fn: () => void): number {
  const parse = JSON.parse;
  let parses = 0;
  JSON.parse = (text: string, reviver?: Parameters<typeof parse>[1]) => {
    parses++;
    return parse(text, reviver);
  };
  try {
    fn();
  } finally {
    JSON.parse = parse;
  }
  return parses;
}

test('the shortcut is taken: a stream of content chunks (or tool call arguments) is parsed at its opening, one learning and its end', () => {
  for (const [clientWantsUsage, delta, where, expected] of [
    [false, deltas.content, 'none', 4],
    [true, deltas.content, 'none', 4],
    [false, deltas.arguments, 'none', 4],
    [false, deltas.contentWithRole, 'none', 4],
    [true, deltas.content, 'last', 4],
    // The usage field is not last: dropping it from the frame is proven by one more parse.
    [false, deltas.content, 'last', 5],
  ] as const) {
    const m = createOpenAIStreamMapper(opts(clientWantsUsage));
    const h = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini' };
    const t = (i: number) => padded({ usage: null }, where, 'x'.repeat(i % 7));
    const events = [
      chunkOf(h, delta.opening, null, t(0)),
      ...Array.from({ length: 20 }, (_, i) => chunkOf(h, delta.with(` word "${i}"`), null, t(i))),
      chunkOf(h, {}, 'stop', t(1)),
    ];
    const parses = parsesIn(() => {
      for (const data of events) m.map({ event: '', data });
    });
    // The role's chunk; the first content chunk, and its shape proven once; the finish.
    assert.equal(parses, expected, `clientWantsUsage ${clientWantsUsage}, padding ${where}`);
  }
});

/** A translating mapper's text deltas: how to open its stream, name its events and write a delta. */
interface TextDeltas {
  readonly name: string;
  readonly mapper: (shapes: boolean) => StreamMapper;
  readonly opening: SseEvent;
  /** The SSE event name of a text delta: the usual one (0), or (1, 2) others where the format has them. */
  readonly event: (name: number) => string;
  /** A delta's text; `count` is its running output count where the format has one (Gemini). */
  readonly payload: (index: number, text: string, pad: string | null, count: number) => string;
}

/**
 * A Gemini text chunk: one candidate, one text part, the running usage (an output count, and the
 * total after it); no padding. Index 1 puts `index` first in the candidate: another shape.
 */
const geminiChunk = (index: number, text: string, count: number) =>
  JSON.stringify({
    candidates: [
      index === 1
        ? { index: 0, content: { parts: [{ text }], role: 'model' } }
        : { content: { parts: [{ text }], role: 'model' }, index: 0 },
    ],
    usageMetadata: {
      promptTokenCount: 9,
      candidatesTokenCount: count,
      totalTokenCount: 9 + count,
      promptTokensDetails: [{ modality: 'TEXT', tokenCount: 9 }],
    },
    modelVersion: 'gemini-2.0-flash',
    responseId: 'r1',
  });

const translated: readonly TextDeltas[] = [
  {
    name: 'Bedrock',
    mapper: (shapes) => createConverseStreamMapper(opts(false), { shapes }),
    opening: { event: 'messageStart', data: '{"role":"assistant"}' },
    event: () => 'contentBlockDelta',
    payload: (index, text, pad) =>
      JSON.stringify({ contentBlockIndex: index, delta: { text }, ...(pad !== null ? { p: pad } : {}) }),
  },
  {
    // Anthropic names each event twice: as the SSE event and as `type`; Claude on Bedrock only in
    // `type`. A delta may come under no SSE name (1) or under another one (2: the SSE name decides).
    name: 'Anthropic',
    mapper: (shapes) => createMessagesStreamMapper(opts(false), { shapes }),
    opening: {
      event: 'message_start',
      data: '{"type":"message_start","message":{"usage":{"input_tokens":3,"output_tokens":1}}}',
    },
    event: (name) => (name === 1 ? '' : name === 2 ? 'ping' : 'content_block_delta'),
    payload: (index, text) =>
      JSON.stringify({ type: 'content_block_delta', index, delta: { type: 'text_delta', text } }),
  },
  {
    // Gemini's chunks differ in their text and running counts; its SSE events have no names.
    name: 'Gemini',
    mapper: (shapes) => createGeminiStreamMapper(opts(false), { shapes }),
    // An opening chunk with no text yet: its own step opens the stream, and no shape is learnt.
    opening: { event: '', data: geminiChunk(0, '', 0) },
    event: () => '',
    payload: (index, text, _pad, count) => geminiChunk(index, text, count),
  },
];

/** Raw text put where a running count goes: counts the shape reads, and numbers it must not. */
const bentCount = fc.oneof(
  fc.nat().map(String),
  fc.constantFrom(
    '0',
    '00',
    '01',
    '-1',
    '-0',
    '1.5',
    '1.0',
    '1e3',
    '1E3',
    '2e-1',
    ' 5',
    '5 ',
    '"5"',
    'null',
    '999999999999999',
    '1000000000000000',
    '9007199254740993',
    '123456789012345678901',
  ),
);
/** The count a payload is written with when its place is then bent (no count ever drawn). */
const COUNT_MARK = 424_242_424_242;

for (const t of translated)
  test(`property: ${t.name} text deltas read by their shape give the chunks their parse gives`, () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(
          fc.oneof(
            fc.record({
              c: content,
              pad,
              index: fc.constantFrom(0, 0, 1),
              name: fc.constantFrom(0, 0, 1, 2),
            }),
            fc.record({ raw: bent, pad }),
            fc.record({ c: content, rawCount: bentCount, pad }),
          ),
          { minLength: 1, maxLength: 12 },
        ),
        fc.array(fc.oneof(fc.nat({ max: 5000 }), fc.constant(0), fc.maxSafeNat()), {
          minLength: 12,
          maxLength: 12,
        }),
        (padded, items, counts) => {
          const m = t.mapper(true);
          const reference = t.mapper(false);
          m.map(t.opening);
          reference.map(t.opening);
          const marker = '\u0007marker\u0007';
          for (const [k, it] of items.entries()) {
            const pd = padded ? it.pad : null;
            const index = 'index' in it ? it.index : 0;
            const data =
              'rawCount' in it
                ? t.payload(0, it.c, pd, COUNT_MARK).replace(`:${COUNT_MARK},`, `:${it.rawCount},`)
                : 'c' in it
                  ? t.payload(index, it.c, pd, counts[k]!)
                  : t.payload(0, marker, pd, counts[k]!).replace(JSON.stringify(marker), it.raw);
            const ev = { event: t.event('name' in it ? it.name : 0), data };
            const { frames: g, ...gotRest } = m.map(ev);
            const { frames: w, ...wantRest } = reference.map(ev);
            assert.deepEqual(gotRest, wantRest, data);
            assert.equal(g.length, w.length, data);
            for (let i = 0; i < w.length; i++) {
              assert.deepEqual(JSON.parse(g[i]!), JSON.parse(w[i]!), data);
              // Where the upstream wrote the text as JSON.stringify would, the chunk is the same text.
              if ('c' in it) assert.equal(g[i], w[i], data);
            }
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

for (const t of translated)
  test(`${t.name} text deltas are parsed at the first and at the proof of its shape, then not`, () => {
    // As shipped: two parses; the reference the property test trusts (shapes: false): every delta.
    for (const [shapes, expected] of [
      [true, 2],
      [false, 20],
    ] as const) {
      const m = t.mapper(shapes);
      m.map(t.opening);
      let frames = 0;
      const parses = parsesIn(() => {
        for (let i = 0; i < 20; i++)
          frames += m.map({
            event: t.event(0),
            data: t.payload(0, ` w"${i}`, 'abcdefgh'.slice(0, i % 8), 3 * i),
          }).frames.length;
      });
      assert.equal(frames, 20);
      assert.equal(parses, expected, `shapes: ${shapes}`);
    }
  });

test('Gemini: thought parts and function calls are never read as text by a shape', () => {
  const chunk = (part: Record<string, unknown>, count: number) =>
    JSON.stringify({
      candidates: [{ content: { parts: [part], role: 'model' }, index: 0 }],
      usageMetadata: { promptTokenCount: 9, candidatesTokenCount: count, totalTokenCount: 9 + count },
      modelVersion: 'gemini-2.5-pro',
      responseId: 'r2',
    });
  const events = [
    chunk({ text: '' }, 0),
    ...[1, 2, 3, 4].map((i) => chunk({ text: `thinking ${i}`, thought: true }, 0)),
    ...[1, 2, 3].map((i) => chunk({ text: `call ${i}`, functionCall: { name: 'f', args: {} } }, i)),
    ...[4, 5, 6, 7].map((i) => chunk({ text: `answer ${i}` }, i)),
  ];
  const m = createGeminiStreamMapper(opts(true));
  const reference = createGeminiStreamMapper(opts(true), { shapes: false });
  for (const data of events)
    assert.deepEqual(m.map({ event: '', data }), reference.map({ event: '', data }), data);
});

test("Gemini: a count is read only where the parse puts it, not from a decoy field with the count's name", () => {
  // The usage's key written with an escape, so that the only `"candidatesTokenCount":n` in the text
  // is a decoy's: equal to the usage's count in the first chunk, another number after.
  const chunk = (i: number) =>
    `{"candidates":[{"content":{"parts":[{"text":"w${i}"}],"role":"model"},"index":0}],"x":{"candidatesTokenCount":${5 + i}},"usageMetadata":{"promptTokenCount":9,"candidates\\u0054okenCount":5,"totalTokenCount":14}}`;
  const m = createGeminiStreamMapper(opts(true));
  const reference = createGeminiStreamMapper(opts(true), { shapes: false });
  for (let i = 0; i < 8; i++) {
    const data = chunk(i);
    const got = m.map({ event: '', data });
    assert.deepEqual(got, reference.map({ event: '', data }), data);
    assert.equal(got.usage?.tokensOutput, 5);
  }
});
