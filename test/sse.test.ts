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

test('a CRLF split between two chunks ends one line, not two', () => {
  assert.deepEqual(parseAll([enc.encode('data: a\r'), enc.encode('\ndata: b\n\n')]), [
    { event: '', data: 'a\nb' },
  ]);
});

test('an empty read between the CR and the LF of a CRLF does not split it either', () => {
  assert.deepEqual(parseAll([enc.encode('data: a\r'), new Uint8Array(0), enc.encode('\ndata: b\n\n')]), [
    { event: '', data: 'a\nb' },
  ]);
});

test('a long line in many reads is read whole, and the line after it too', () => {
  const text = `data: ${'x'.repeat(5000)}\n\ndata: y\n\n`;
  const bytes = enc.encode(text);
  const reads = Array.from({ length: Math.ceil(bytes.length / 7) }, (_, i) =>
    bytes.slice(i * 7, (i + 1) * 7),
  );
  assert.deepEqual(parseAll(reads), [
    { event: '', data: 'x'.repeat(5000) },
    { event: '', data: 'y' },
  ]);
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

/** The WHATWG interpretation, read off the spec line by line over the whole text at once. */
function reference(text: string): { event: string; data: string; id?: string }[] {
  const out: { event: string; data: string; id?: string }[] = [];
  const lines = text.split(/\r\n|\r|\n/);
  lines.pop(); // the last piece has no line end: not a line yet
  let event = '';
  let data: string[] = [];
  let id: string | undefined;
  for (const line of lines) {
    if (line === '') {
      if (data.length > 0)
        out.push(id !== undefined ? { event, data: data.join('\n'), id } : { event, data: data.join('\n') });
      event = '';
      data = [];
      continue;
    }
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
    else if (field === 'id' && !value.includes('\0')) id = value;
  }
  return out;
}

test('property: any text, any line endings, any chunking: the events the spec reads', () => {
  const piece = fc.constantFrom(
    'data',
    'data:',
    'data: ',
    'datum:',
    'dat',
    'event:',
    'event: e',
    'id: 7',
    ':',
    ' ',
    'x',
    '"',
    'é',
    '\n',
    '\r',
    '\r\n',
  );
  fc.assert(
    fc.property(
      fc.array(piece, { maxLength: 60 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      fc.boolean(),
      (pieces, cuts, byteByByte) => {
        const text = pieces.join('');
        const bytes = enc.encode(text);
        const points = byteByByte
          ? Array.from({ length: bytes.length }, (_, i) => i)
          : [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const p = new SseParser();
        const got: { event: string; data: string; id?: string }[] = [];
        let prev = 0;
        for (const at of [...points, bytes.length]) {
          got.push(...p.push(bytes.slice(prev, at)));
          prev = at;
        }
        assert.deepEqual(got, reference(text));
      },
    ),
    { numRuns: 2000 },
  );
});
