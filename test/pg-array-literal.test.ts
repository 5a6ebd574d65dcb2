// Batch inserts on PostgreSQL bind one array literal per column (src/store/postgres/array-literal.ts).
// A literal is judged by PostgreSQL itself: every hostile string comes back from `$1::text[]`
// exactly as it went in, integers and nulls keep their kind, and what has no literal is refused.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { ColumnLiterals, columnLiterals, elementLiteral } from '../src/store/postgres/array-literal.js';
import { pgUrl } from './helpers/backends.js';

const HOSTILE = [
  '',
  'NULL',
  'null',
  ' ',
  '"',
  '\\',
  '\\"',
  '""',
  'a,b',
  '{a}',
  '{',
  '}',
  "it's",
  'tab\there',
  'line\nbreak',
  'ünïcödé ✓ 𝄞',
  ' leading and trailing ',
  'a"b\\c"d',
];

describe('array literals', () => {
  test('elements: null is NULL, integers bare, text quoted with only quote and backslash escaped', () => {
    assert.equal(elementLiteral(null), 'NULL');
    assert.equal(elementLiteral(undefined), 'NULL');
    assert.equal(elementLiteral(12), '12');
    assert.equal(elementLiteral(-7), '-7');
    assert.equal(elementLiteral(12345678901234567890n), '12345678901234567890');
    assert.equal(elementLiteral('NULL'), '"NULL"');
    assert.equal(elementLiteral('a"b\\c'), '"a\\"b\\\\c"');
    assert.equal(elementLiteral('a,b{}'), '"a,b{}"');
  });

  test('what has no literal is refused, not sent', () => {
    for (const bad of [1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60, {}, [], Symbol('s'), () => 1])
      assert.throws(() => elementLiteral(bad), TypeError, String(bad));
  });

  test('rows become one literal per column, a row possibly added in parts', () => {
    assert.deepEqual(
      columnLiterals(
        [
          ['a', 1, null],
          ['b"', 2, 'x'],
        ],
        3,
      ),
      ['{"a","b\\""}', '{1,2}', '{NULL,"x"}'],
    );
    const parts = new ColumnLiterals(3).add(['a']).add([1, null], 1).add(['b']).add([2, 'x'], 1);
    assert.equal(parts.rows, 2);
    assert.deepEqual(parts.literals(), ['{"a","b"}', '{1,2}', '{NULL,"x"}']);
    assert.deepEqual(new ColumnLiterals(2).literals(), ['{}', '{}']);
  });

  describe('PostgreSQL reads them back exactly', {
    skip: pgUrl ? false : 'PostgreSQL is not reachable',
  }, () => {
    const client = new pg.Client({ connectionString: pgUrl });
    const ready = client.connect();
    after(() => client.end());

    test('hostile text, nulls and integers round-trip through unnest', async () => {
      await ready;
      const rows = HOSTILE.map((s, i) => [
        s,
        i % 3 === 0 ? null : BigInt(i) * 10n ** 15n,
        i % 2 ? null : 5 - i * 7,
      ]);
      const [texts, bigs, ints] = columnLiterals(rows, 3);
      const { rows: back } = await client.query<{ t: string | null; b: string | null; i: number | null }>(
        'SELECT t, b::text AS b, i FROM unnest($1::text[], $2::bigint[], $3::integer[]) WITH ORDINALITY AS x(t, b, i, n) ORDER BY n',
        [texts, bigs, ints],
      );
      assert.deepEqual(
        back.map((r) => [r.t, r.b === null ? null : BigInt(r.b), r.i]),
        rows,
      );
    });
  });
});
