// The SSE parser against the WHATWG rules: any line ending, chunks split anywhere, multi-line
// data, comments, events without a trailing blank line.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { frameData, SseParser } from '../src/sse/index.js';

const enc = new TextEncoder();

function parseAll(chunks: Uint8Array[]) {
  const p = new SseParser();
  const out = chunks.flatMap((c) => p.push(c));
  return [...out, ...p.end()];
}

test('events split by LF, CRLF and CR', () => {
  for (const nl of ['\n', '\r\n', '\r']) {
    const text = `event: a${nl}data: one${nl}${nl}data: two${nl}data: lines${nl}${nl}: comment${nl}data:x${nl}${nl}`;
    assert.deepEqual(parseAll([enc.encode(text)]), [
      { event: 'a', data: 'one' },
      { event: '', data: 'two\nlines' },
      { event: '', data: 'x' },
    ]);
  }
});

test('an event without its blank line at the end of the stream is dropped', () => {
  assert.deepEqual(parseAll([enc.encode('data: done\n\ndata: partial')]), [{ event: '', data: 'done' }]);
});

test('a BOM at the start and a multi-byte character split between chunks', () => {
  const bytes = enc.encode('\uFEFFdata: café ☕\n\n');
  const cut = bytes.indexOf(0xe2) + 1; // inside the 3-byte ☕
  assert.deepEqual(parseAll([bytes.slice(0, cut), bytes.slice(cut)]), [{ event: '', data: 'café ☕' }]);
});

test('property: any chunking of a framed stream gives the same events', () => {
  const payload = fc.string({
    unit: fc.constantFrom('a', 'b', ' ', '{', '"', 'é', '\n', ':'),
    maxLength: 30,
  });
  fc.assert(
    fc.property(
      fc.array(payload, { minLength: 1, maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      fc.constantFrom('\n', '\r\n'),
      (datas, cuts, nl) => {
        const text = datas
          .map((d) => frameData(d))
          .join('')
          .replaceAll('\n', nl);
        const bytes = enc.encode(text);
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const chunks: Uint8Array[] = [];
        let prev = 0;
        for (const p of points) {
          chunks.push(bytes.slice(prev, p));
          prev = p;
        }
        chunks.push(bytes.slice(prev));
        assert.deepEqual(
          parseAll(chunks).map((e) => e.data),
          datas.map((d) => d),
        );
      },
    ),
  );
});
