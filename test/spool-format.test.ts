// The spool's line format (src/spool/format.ts): every record comes back from its line as it was
// written, whatever its fields hold; lines written before the array format (a JSON object) are
// still read; and lines that are not records are counted corrupt, never turned into one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { decodeLines, encodeLine, FIELDS } from '../src/spool/format.js';
import type { AttemptRecord, UsageRecord } from '../src/store/index.js';
import { usageRecord } from './helpers/records.js';

const text = fc.string({ maxLength: 12 });
const nullable = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: null });
const count = fc.nat({ max: 10_000_000 });
const attempt: fc.Arbitrary<AttemptRecord> = fc.record(
  {
    deployment: text,
    outcome: fc.constantFrom('served', 'client_gone', 'rate_limited', 'timeout'),
    status: nullable(fc.integer({ min: 100, max: 599 })),
    code: nullable(text),
    durationMs: fc.double({ min: 0, max: 1e6, noNaN: true }),
    host: text,
    usage: fc.record({
      tokensInputUncached: count,
      tokensInputCached: count,
      tokensOutput: count,
      tokensReasoning: count,
      exact: fc.boolean(),
    }),
  },
  { requiredKeys: ['deployment', 'outcome', 'status', 'code', 'durationMs'] },
);
const record: fc.Arbitrary<UsageRecord> = fc.record(
  {
    requestId: fc.string({ minLength: 1, maxLength: 40 }),
    tenantId: text,
    keyId: text,
    model: text,
    modelVersion: nullable(text),
    cloud: nullable(text),
    region: nullable(text),
    upstreamId: nullable(text),
    deployment: nullable(text),
    surface: fc.constantFrom('chat', 'responses', 'embeddings'),
    stream: fc.boolean(),
    status: fc.integer({ min: 100, max: 599 }),
    errorCode: nullable(text),
    usageExact: fc.boolean(),
    attempts: fc.integer({ min: 0, max: 10 }),
    tokensInputUncached: count,
    tokensInputCached: count,
    tokensOutput: count,
    tokensReasoning: count,
    startedAtMs: fc.integer({ min: 0, max: 4_102_444_800_000 }),
    latencyMs: fc.double({ min: 0, max: 1e7, noNaN: true }),
    overheadUs: fc.integer({ min: 0, max: 1e9 }),
    capacity: text,
    tier: text,
    attemptLog: fc.array(attempt, { maxLength: 3 }),
  },
  { requiredKeys: [...FIELDS] },
);

const lineOf = (json: string) => `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;

test('every record comes back from its line as written, optional fields and all', () => {
  fc.assert(
    fc.property(fc.array(record, { minLength: 1, maxLength: 5 }), (records) => {
      // What JSON can carry: -0 is written as 0.
      const expected = JSON.parse(JSON.stringify(records)) as UsageRecord[];
      const d = decodeLines(records.map(encodeLine).join(''));
      assert.equal(d.corrupt, 0);
      assert.equal(d.rest, '');
      assert.deepEqual(d.records, expected);
    }),
    { numRuns: 500 },
  );
});

test('a line is an array of the fields, shorter than the object it replaces', () => {
  const r = usageRecord('req_format_1');
  const line = encodeLine(r);
  assert.ok(line.slice(9).startsWith('["req_format_1",'), line);
  assert.ok(Buffer.byteLength(line) < Buffer.byteLength(lineOf(JSON.stringify(r))) * 0.6);
  assert.ok(!line.includes('null,null,null]'), 'no optional tail when no optional field is set');
});

test('each field is written at its place in FIELDS, and FIELDS and the optional fields are the whole record', () => {
  // Every field a value of its own, so that two swapped places cannot go unnoticed.
  const r: UsageRecord = {
    ...usageRecord('req_format_places', {
      modelVersion: 'v',
      cloud: 'c',
      region: 'rg',
      upstreamId: 'up',
      deployment: 'dep',
      surface: 'responses',
      stream: true,
      status: 201,
      errorCode: 'e',
      usageExact: false,
      attempts: 2,
      tokensInputUncached: 3,
      tokensInputCached: 4,
      tokensOutput: 5,
      tokensReasoning: 6,
      startedAtMs: 7,
      latencyMs: 8.5,
      overheadUs: 9,
    }),
    tenantId: 'tn',
    keyId: 'ky',
    model: 'md',
    capacity: 'cap',
    tier: 'tr',
    attemptLog: [{ deployment: 'up/dep', outcome: 'served', status: 201, code: null, durationMs: 1 }],
  };
  const values = FIELDS.map((k) => JSON.stringify(r[k]));
  assert.equal(new Set(values).size, FIELDS.length, 'the fixture gives every field its own value');
  const a = JSON.parse(encodeLine(r).slice(9)) as unknown[];
  for (const [i, k] of FIELDS.entries()) assert.deepEqual(a[i], r[k], `${k} at ${i}`);
  assert.deepEqual(a.slice(FIELDS.length), [r.capacity, r.tier, r.attemptLog]);
  assert.deepEqual(Object.keys(r).sort(), [...FIELDS, 'capacity', 'tier', 'attemptLog'].sort());
  assert.deepEqual(decodeLines(encodeLine(r)).records, [r]);
});

test('lines written before the array format (a JSON object a line) are still read', () => {
  const now = usageRecord('req_format_object', { capacity: 'ptu', attemptLog: [] });
  const { surface: _s, ...noSurface } = usageRecord('req_format_old', {
    deployment: 'text-embed-3',
    tokensOutput: 0,
  });
  const d = decodeLines(lineOf(JSON.stringify(now)) + lineOf(JSON.stringify(noSurface)) + encodeLine(now));
  assert.equal(d.corrupt, 0);
  assert.deepEqual(d.records, [now, { ...noSurface, surface: 'embeddings' }, now]);
});

test('checksummed lines that are not records are corrupt, not records', () => {
  const r = usageRecord('req_format_2');
  const short = JSON.stringify(JSON.parse(encodeLine(r).slice(9)).slice(0, FIELDS.length - 1));
  const hostile = [short, '5', '"text"', 'null', 'true', '[', '{"requestId":', ''];
  const d = decodeLines(hostile.map(lineOf).join('') + encodeLine(r));
  assert.equal(d.corrupt, hostile.length);
  assert.deepEqual(d.records, [r]);
});
