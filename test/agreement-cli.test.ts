// The agreement commands as an operator runs them: `agreement validate FILE` validates FILE with
// the checks `serve` makes, `serve` refuses what validate refuses (with a code, never a stack),
// `prices show` resolves each model's price, `route explain` names scope and carve-outs, and every
// change made from the CLI lands in `entente audit`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const cli = here('../../bin/entente.js');
const exampleText = readFileSync(here('../../examples/agreement.yaml'), 'utf8');
const configText = readFileSync(here('../../examples/entente.yaml'), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'entente-agreement-cli-'));
const env = { ...process.env, ENTENTE_DATA_DIR: join(dir, 'data') };
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env });
const write = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

test('agreement validate FILE validates that file, located and coded, with serve’s checks', () => {
  const good = write('good.yaml', exampleText);
  const ok = run('agreement', 'validate', good);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, new RegExp(`^${good.replaceAll('/', '\\/')}: valid \\(2 versions`));
  const bad = write(
    'bad.yaml',
    exampleText.replace('validFrom: 2026-04-27T00:00:00Z', 'validFrom: 2026-02-30T00:00:00Z'),
  );
  const refused = run('agreement', 'validate', bad);
  assert.equal(refused.status, 1);
  assert.match(
    refused.stderr,
    new RegExp(`${bad.replaceAll('/', '\\/')}:\\d+:\\d+ versions\\[1\\]\\.validFrom: \\[invalid_date\\]`),
  );
  // The cap's currency is checked against the config's price books without being asked to.
  const eur = write('eur.yaml', exampleText.replace('currency: USD }', 'currency: EUR }'));
  const currency = run('agreement', 'validate', eur);
  assert.equal(currency.status, 1);
  assert.match(
    currency.stderr,
    /\[price_books_disagree\].*\n.*\[cap_currency_unpriced\] version 2026-04-amendment/,
  );
  // A cloud no deployment is on.
  const cloud = write(
    'cloud.yaml',
    exampleText.replace(
      'primary: azure                  # Azure stays',
      'primary: azrue                  # Azure stays',
    ),
  );
  const unknown = run('agreement', 'validate', cloud);
  assert.equal(unknown.status, 1);
  assert.match(unknown.stderr, /\[unknown_cloud\] primary cloud 'azrue'/);
  for (const r of [refused, currency, unknown]) assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  // show and diff take FILE first too.
  const one = write('one.yaml', exampleText.replaceAll('2026-04-amendment', '2026-04-changed'));
  const shown = run('agreement', 'show', one, '--as-of', '2026-06-01').stdout;
  assert.match(shown, /version 2026-04-changed/);
  // Scope, carve-outs and the revenue base in words (the base once printed as [object Object]).
  assert.match(shown, /scope: models owned by openai/);
  assert.match(shown, /carve-out open-weight-models: exempt from primary-first for models gpt-oss-\*/);
  assert.match(shown, /of openai's revenue from models owned by openai on any cloud/);
  assert.doesNotMatch(shown, /\[object Object\]/);
  assert.match(
    run('agreement', 'diff', one, '2025-10-definitive', '2026-04-changed').stdout,
    /^2025-10-definitive → 2026-04-changed/,
  );
});

test('serve refuses an agreement whose primary cloud is unknown, with the same code, and starts nothing', () => {
  const agreement = write(
    'serve-agreement.yaml',
    exampleText.replace(
      'primary: azure                  # Azure stays',
      'primary: azrue                  # Azure stays',
    ),
  );
  write('prices.yaml', readFileSync(here('../../examples/prices.yaml'), 'utf8'));
  const config = write(
    'serve.yaml',
    configText
      .replace('file: agreement.yaml', `file: ${agreement}`)
      .replace(/port: \$\{ENTENTE_SIM_(\w+)_PORT:-\d+\}/g, 'port: 0'),
  );
  const r = spawnSync(process.execPath, [cli, 'serve', '--config', config, '--port', '0'], {
    encoding: 'utf8',
    env,
    timeout: 30_000,
  });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /^entente: \[config_invalid\] .*\n.*\[unknown_cloud\]/m);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('prices show: each model version’s price and the book it comes from', () => {
  const r = run('prices', 'show', '--as-of', '2026-12-15T00:00:00Z', '--json');
  assert.equal(r.status, 0, r.stderr);
  const { prices } = JSON.parse(r.stdout) as { prices: { model: string; bookId: string | null }[] };
  const book = (m: string) => prices.find((p) => p.model === m)?.bookId;
  assert.equal(book('llama-3.3-70b'), '2026-12-third-party');
  assert.equal(book('gpt-4o'), '2026-11-list', 'a newer book for another model does not unprice it');
  const earlier = JSON.parse(run('prices', 'show', '--as-of', '2026-06-01T00:00:00Z', '--json').stdout) as {
    prices: { model: string; bookId: string | null }[];
  };
  assert.equal(earlier.prices.find((p) => p.model === 'gpt-5.5')?.bookId, null, 'not priced before its book');
});

test('a reader that stops early (| head -1) ends the output quietly, with no EPIPE stack', async () => {
  const { spawn } = await import('node:child_process');
  const p = spawn(process.execPath, [cli, 'prices', 'show'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  // The reader is gone before the first line: every write the CLI makes meets a closed pipe.
  p.stdout.destroy();
  let err = '';
  p.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const code = await new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
  assert.equal(code, 0);
  assert.doesNotMatch(err, /EPIPE|\n\s+at /);
});

test('route explain names what is outside the agreement and the carve-outs that apply', () => {
  const llama = run('route', 'explain', '--model', 'llama-3.3-70b', '--at', '2026-12-01T00:00:00Z');
  assert.equal(llama.status, 0, llama.stderr);
  assert.match(llama.stdout, /outside the agreement/);
  const oss = run('route', 'explain', '--model', 'gpt-oss-120b', '--at', '2026-12-01T00:00:00Z');
  assert.match(oss.stdout, /carve-out open-weight-models: exempt from primary-first/);
  assert.doesNotMatch(oss.stdout, /not_yet_deployed_on_primary/);
  const unknown = run('route', 'explain', '--model', 'nope');
  assert.equal(unknown.status, 1, 'a model outside the catalog is an error, not an answer');
});

test('changes made from the CLI are in the audit log, with who and when', () => {
  const created = run('keys', 'create', '--tenant', 'demo', '--id', 'audited-key');
  assert.equal(created.status, 0, created.stderr);
  assert.equal(run('keys', 'revoke', 'audited-key').status, 0);
  const r = run('audit', '--json');
  assert.equal(r.status, 0, r.stderr);
  const entries = JSON.parse(r.stdout) as { action: string; subject: string; actor: string }[];
  assert.deepEqual(
    entries.filter((e) => e.subject === 'audited-key').map((e) => e.action),
    ['key.revoke', 'key.create'],
  );
  assert.match(entries[0]!.actor, /^cli:/);
  assert.doesNotMatch(r.stdout, /sk-ent-/, 'no key in the audit log');
  // Rotation and expiry from the CLI, as through the admin API.
  assert.equal(
    run('keys', 'create', '--tenant', 'demo', '--id', 'cli-rot', '--expires', '2000-01-01T00:00:00Z').status,
    2,
  );
  assert.equal(run('keys', 'create', '--tenant', 'demo', '--id', 'cli-rot').status, 0);
  const again = run('keys', 'create', '--tenant', 'demo', '--id', 'cli-rot');
  assert.equal(again.status, 2, 'a second key under an existing id is refused, not written over it');
  assert.match(again.stderr, /a key with id 'cli-rot' exists/);
  const rotated = run('keys', 'rotate', 'cli-rot', '--grace', '60');
  assert.equal(rotated.status, 0, rotated.stderr);
  assert.equal((JSON.parse(rotated.stdout.split('\n')[0]!) as { id: string }).id, 'cli-rot.r2');
  const list = run('keys', 'list').stdout;
  assert.match(list, /^cli-rot\t.*active, expires /m);
  assert.match(list, /^cli-rot\.r2\t.*\tactive$/m);
  assert.equal(run('keys', 'rotate', 'nope').status, 1);
  const audit = JSON.parse(run('audit', '--json', '--action', 'key.rotate').stdout) as { subject: string }[];
  assert.equal(audit[0]?.subject, 'cli-rot');
});

test('a key’s limits from the CLI: set with the key or later, checked, audited, listed', () => {
  const created = run(
    'keys',
    'create',
    '--tenant',
    'demo',
    '--id',
    'cli-limited',
    '--rpm',
    '60',
    '--budget',
    '25.00/month',
  );
  assert.equal(created.status, 0, created.stderr);
  assert.match(
    run('keys', 'list').stdout,
    /^cli-limited\t.*limits=\{"requestsPerMinute":60,"budget":\{"amount":"25\.00","period":"month","alertAt":\[0\.8,1\]\}\}$/m,
  );
  const set = run('keys', 'limits', 'cli-limited', '--tpm', '100000', '--concurrent', '4');
  assert.equal(set.status, 0, set.stderr);
  assert.deepEqual(JSON.parse(set.stdout).limits, { tokensPerMinute: 100000, concurrentRequests: 4 });
  for (const bad of [
    ['--rpm', '0'],
    ['--rpm', 'ten'],
    ['--tpm', '-5'],
    ['--budget', '25'],
    ['--budget', '25/week'],
    ['--budget', 'lots/month'],
    ['--budget', '0/day'],
    [],
  ]) {
    const r = run('keys', 'limits', 'cli-limited', ...bad);
    assert.equal(r.status, 2, `${bad.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, /^entente: \[cli_usage\] /m);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
  assert.equal(run('keys', 'limits', 'nobody', '--rpm', '5').status, 1);
  assert.equal(run('keys', 'limits', 'cli-limited', '--clear').status, 0);
  assert.doesNotMatch(run('keys', 'list').stdout, /^cli-limited\t.*limits=/m);
  const audit = JSON.parse(run('audit', '--json', '--action', 'key.limits').stdout) as { subject: string }[];
  assert.deepEqual(
    audit.map((e) => e.subject),
    ['cli-limited', 'cli-limited'],
  );
});
