// docs/errors.md and the error catalogue stay in step, row for row (fastify keeps its docs so).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { errorCatalogue } from '../src/errors/index.js';

test('every catalogue entry is documented exactly, and nothing else is', () => {
  const doc = readFileSync(fileURLToPath(new URL('../../docs/errors.md', import.meta.url)), 'utf8');
  const rows = new Map<string, string[]>();
  for (const line of doc.split('\n')) {
    const m = /^\| `([a-z_]+)` \| (.+) \|$/.exec(line);
    if (m) rows.set(m[1]!, m[2]!.split(' | '));
  }
  assert.deepEqual([...rows.keys()].sort(), Object.keys(errorCatalogue).sort());
  for (const [code, spec] of Object.entries(errorCatalogue)) {
    const [status, type, retry, summary] = rows.get(code)!;
    assert.equal(Number(status), spec.status, code);
    assert.equal(type, `\`${spec.type}\``, code);
    assert.equal(retry, spec.retryable ? 'yes' : 'no', code);
    assert.equal(summary, spec.summary, code);
  }
});
