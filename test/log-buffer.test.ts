// The log's buffer encodes each line into fixed-size blocks as it comes: whatever the lines (any
// Unicode, lone surrogates, lines longer than a block) and wherever the flushes fall, the bytes
// written are the UTF-8 of the lines in order, as Buffer.from of their concatenation would be.
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { bufferedStdout, LineBlocks } from '../src/observability/index.js';
import { eventually } from './helpers/eventually.js';

/**
 * A log line: anything, then a newline, as every line the logger writes ends. (Without it, two
 * lines ending and starting in the halves of a surrogate pair would encode apart as two U+FFFD, and
 * together as the pair's character.)
 */
const line = fc
  .oneof(
    fc.string({ maxLength: 40 }),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc
      .array(fc.integer({ min: 0xd800, max: 0xdfff }), { maxLength: 3 })
      .map((cs) => String.fromCharCode(...cs)),
    fc.string({ minLength: 100, maxLength: 400 }),
  )
  .map((l) => `${l}\n`);

test('blocks hold the UTF-8 of the lines in order, taken at any points, for any block size', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 4, max: 512 }),
      fc.array(fc.tuple(line, fc.boolean()), { maxLength: 60 }),
      (blockBytes, steps) => {
        const blocks = new LineBlocks(blockBytes);
        const out: Buffer[] = [];
        for (const [l, takeNow] of steps) {
          blocks.add(l);
          if (takeNow) out.push(...blocks.take());
        }
        const held = blocks.bytes;
        const last = blocks.take();
        assert.equal(held, Buffer.concat(last).length);
        assert.equal(blocks.bytes, 0);
        out.push(...last);
        assert.deepEqual(Buffer.concat(out), Buffer.from(steps.map(([l]) => l).join('')));
      },
    ),
    { numRuns: 3000 },
  );
});

test('the buffered writer writes every line, whole and in order, to its file', async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'entente-log-')), 'out.log');
  const fd = openSync(file, 'w');
  try {
    // Blocks of 256 bytes: most lines fill several, and one is longer than a block on its own.
    const write = bufferedStdout(fd, 256);
    const lines = Array.from({ length: 500 }, (_, i) => `{"n":${i},"text":"é ☃ 𝄞 ${'x'.repeat(i % 97)}"}\n`);
    lines.splice(250, 0, `{"long":"${'y'.repeat(5000)}"}\n`);
    for (const l of lines) write(l);
    const expected = Buffer.from(lines.join(''));
    await eventually(() => readFileSync(file).length === expected.length || null, 'every line written');
    assert.deepEqual(readFileSync(file), expected);
  } finally {
    closeSync(fd);
  }
});
