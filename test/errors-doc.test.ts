// docs/errors.md and the error catalogues stay in step, row for row (fastify keeps its docs so):
// the HTTP catalogue above "Errors outside HTTP", the operator errors below it. The CLI prints
// every failure with its code.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { errorCatalogue, operatorErrors } from '../src/errors/index.js';

const doc = readFileSync(fileURLToPath(new URL('../../docs/errors.md', import.meta.url)), 'utf8');
const [httpPart, operatorPart] = doc.split('## Errors outside HTTP') as [string, string];

function rows(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^\| `([a-z_]+)` \| (.+) \|$/.exec(line);
    if (m) out.set(m[1]!, m[2]!.split(' | '));
  }
  return out;
}

test('every HTTP catalogue entry is documented exactly, and nothing else is', () => {
  const documented = rows(httpPart);
  assert.deepEqual([...documented.keys()].sort(), Object.keys(errorCatalogue).sort());
  for (const [code, spec] of Object.entries(errorCatalogue)) {
    const [status, type, retry, summary] = documented.get(code)!;
    assert.equal(Number(status), spec.status, code);
    assert.equal(type, `\`${spec.type}\``, code);
    assert.equal(retry, spec.retryable ? 'yes' : 'no', code);
    assert.equal(summary, spec.summary, code);
  }
});

test('every operator error is documented exactly, and nothing else is', () => {
  assert.ok(operatorPart, 'docs/errors.md has the "Errors outside HTTP" section');
  const documented = rows(operatorPart);
  assert.deepEqual([...documented.keys()].sort(), Object.keys(operatorErrors).sort());
  for (const [code, spec] of Object.entries(operatorErrors)) {
    const [exit, summary] = documented.get(code)!;
    assert.equal(Number(exit), spec.exitCode, code);
    assert.equal(summary, spec.summary, code);
  }
});

test("the CLI prints failures as `entente: [code] message`, with the code's exit status, never a stack", () => {
  const cli = fileURLToPath(new URL('../../bin/entente.js', import.meta.url));
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  const unknown = run('frobnicate');
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /^entente: \[cli_usage\] unknown command 'frobnicate'/);
  const badFlag = run('serve', '--no-such-flag');
  assert.equal(badFlag.status, 2);
  assert.match(badFlag.stderr, /^entente: \[cli_usage\] /);
  const missing = run('config', 'validate', '--config', '/nonexistent/entente.yaml');
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /^entente: \[config_(invalid|unreadable)\] /m);
  for (const r of [unknown, badFlag, missing]) assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});
