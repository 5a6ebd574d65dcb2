// The `entente` command line, as a user meets it: --help on every command and subcommand (exit 0),
// one-line errors with a stable code and exit 2 for a wrong command line, shell completion from
// the same command tree (run in a real bash), one resolution order for the config and the data
// directory (said on stderr), a read command that refuses an empty data directory instead of
// creating one, --json on every read command, one-line start-up errors (a taken port, a missing
// credential variable), and a message, not a stack, before the first build.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Command } from 'commander';
import { renderCliDoc } from '../scripts/gen-cli-docs.js';
import { buildProgram, COMMANDS } from '../src/cli/program.js';
import { SqliteStore } from '../src/store/index.js';
import { runProcess } from './helpers/run-process.js';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin/entente.js');

function entente(args: string[], opts: { cwd?: string; env?: Record<string, string | undefined> } = {}) {
  const env = { ...process.env, ...opts.env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  delete env.ENTENTE_CONFIG;
  delete env.ENTENTE_DATA_DIR;
  delete env.DATABASE_URL;
  Object.assign(env, opts.env ?? {});
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  return spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    cwd: opts.cwd ?? ROOT,
    env,
    timeout: 30_000,
  });
}

/** The same, without blocking the event loop: several at once. */
function ententeAsync(args: string[]) {
  const env = { ...process.env };
  for (const k of ['ENTENTE_CONFIG', 'ENTENTE_DATA_DIR', 'DATABASE_URL']) delete env[k];
  return runProcess(process.execPath, [BIN, ...args], { cwd: ROOT, env });
}

const MINIMAL = `routing: { primaryCloud: azure }
upstreams:
  - { id: az, provider: openai, cloud: azure, baseUrl: "http://127.0.0.1:1/v1", auth: { apiKey: x } }
models: [{ name: m, deployments: [{ upstream: az, deployment: m, modelVersion: "1" }] }]
`;

describe('the entente command line', () => {
  test('--help on every command and subcommand: its usage and options; the real binary exits 0', () => {
    // The whole tree in process (each command's help as commander renders it for --help)…
    const program = buildProgram('0.0.0', () => undefined);
    const leaves = COMMANDS.flatMap((c) => (c.subs ? c.subs.map((s) => [c.name, s.name]) : [[c.name]]));
    assert.ok(leaves.length >= 31, `${leaves.length} commands`);
    for (const path of leaves) {
      let c: Command | undefined = program;
      for (const name of path) c = c?.commands.find((x) => x.name() === name);
      assert.ok(c, path.join(' '));
      const help = c.helpInformation();
      assert.match(help, new RegExp(`^Usage: entente ${path.join(' ')}`), path.join(' '));
      const spec = COMMANDS.find((x) => x.name === path[0])!;
      const leaf = path[1] ? spec.subs!.find((x) => x.name === path[1])! : spec;
      for (const [flags] of leaf.options ?? [])
        assert.ok(help.includes(flags.split(' ')[0]!), `${path.join(' ')}: ${flags}`);
      if (leaf.json) assert.ok(help.includes('--json'), `${path.join(' ')} --json`);
    }
    // …and the real binary, for the root, a group, a leaf, and one that must not run.
    for (const p of [[], ['keys'], ['keys', 'create'], ['usage', 'replay']]) {
      const r = entente([...p, '--help']);
      assert.equal(r.status, 0, `${p.join(' ')} --help: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage: entente${p.length ? ` ${p.join(' ')}` : ''} `));
      // --help runs nothing: no config is read, the replay does not rebuild the ledger.
      assert.equal(r.stderr, '');
    }
    assert.match(entente(['--help']).stdout, /Exit codes:\n {2}0 {2}done\n {2}1 .*\n {2}2 /);
  });

  test("docs/cli.md is every command's --help, generated from the program (npm run docs:cli)", () => {
    assert.equal(
      readFileSync(join(ROOT, 'docs/cli.md'), 'utf8'),
      renderCliDoc(),
      'docs/cli.md is stale: npm run docs:cli',
    );
  });

  test('a wrong command line is one line with a code, a suggestion, and exit 2', () => {
    for (const [args, why] of [
      [['kyes'], /unknown command 'kyes' \(Did you mean keys\?\)/],
      [['keys', 'list', '--bogus'], /unknown option '--bogus'/],
      [['keys', 'revoke'], /missing required argument 'key-id'/],
      [['capacity', 'statsu'], /unknown command 'statsu'/],
      [['completion', 'fish'], /no completion for shell 'fish'/],
    ] as const) {
      const r = entente([...args]);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^entente: \[cli_usage\] /);
      assert.match(r.stderr, why);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });

  test('bash completion, generated from the command tree, completes commands, subcommands and flags', () => {
    const script = entente(['completion', 'bash']).stdout;
    const complete = (words: string[]) => {
      const r = spawnSync(
        'bash',
        [
          '-c',
          `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _entente; echo "\${COMPREPLY[*]}"`,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim().split(' ');
    };
    assert.deepEqual(complete(['entente', 'ke']), ['keys']);
    assert.deepEqual(complete(['entente', 'keys', 'r']).sort(), ['revoke', 'rotate']);
    assert.ok(complete(['entente', 'keys', 'create', '--t']).includes('--tenant'));
    assert.ok(complete(['entente', 'capacity', 'status', '--']).includes('--json'));
    assert.match(entente(['completion', 'zsh']).stdout, /bashcompinit/);
  });

  test('one resolution order for the config, said on stderr: --config, ENTENTE_CONFIG, ./entente.yaml, the example', () => {
    const dir = mkdtempSync(join(tmpdir(), 'entente-cli-'));
    const other = join(dir, 'other.yaml');
    writeFileSync(join(dir, 'entente.yaml'), MINIMAL);
    writeFileSync(other, MINIMAL);
    const said = (r: { stderr: string }) => /^entente: config (.+) \((.+)\)$/m.exec(r.stderr)?.slice(1);
    assert.deepEqual(said(entente(['config', 'validate'], { cwd: dir })), [
      join(dir, 'entente.yaml'),
      './entente.yaml',
    ]);
    assert.deepEqual(said(entente(['config', 'validate'], { cwd: dir, env: { ENTENTE_CONFIG: other } })), [
      other,
      'ENTENTE_CONFIG',
    ]);
    assert.deepEqual(
      said(
        entente(['--config', other, 'config', 'validate'], {
          cwd: dir,
          env: { ENTENTE_CONFIG: '/nope.yaml' },
        }),
      ),
      [other, '--config'],
    );
    const example = said(entente(['config', 'validate'], { cwd: tmpdir() }));
    assert.equal(example?.[0], join(ROOT, 'examples/entente.yaml'));
    assert.match(example?.[1] ?? '', /^the example/);
  });

  test('a read command refuses a data directory with no database (and creates none); --data-dir points it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'entente-cli-'));
    writeFileSync(join(dir, 'entente.yaml'), MINIMAL);
    const empty = entente(['keys', 'list'], { cwd: dir });
    assert.equal(empty.status, 1);
    assert.match(
      empty.stderr,
      /^entente: \[no_database\] no Entente database in .*data \(the config's dataDir, relative to the working directory\)/m,
    );
    assert.equal(existsSync(join(dir, 'data')), false, 'no data directory was created');
    const data = join(dir, 'elsewhere');
    const created = entente(['--data-dir', data, 'keys', 'create', '--tenant', 'acme', '--id', 'k1'], {
      cwd: dir,
    });
    assert.equal(created.status, 0, created.stderr);
    assert.match(created.stderr, new RegExp(`entente: data ${data} \\(--data-dir\\)`));
    const listed = entente(['keys', 'list', '--json'], { cwd: dir, env: { ENTENTE_DATA_DIR: data } });
    assert.equal(listed.status, 0, listed.stderr);
    assert.match(listed.stderr, /\(ENTENTE_DATA_DIR\)/);
    const keys = JSON.parse(listed.stdout) as {
      id: string;
      tenantId: string;
      sha256Prefix: string;
      sha256?: string;
    }[];
    assert.deepEqual(
      keys.map((k) => [k.id, k.tenantId, k.sha256Prefix.length, k.sha256]),
      [['k1', 'acme', 8, undefined]],
    );
  });

  test('keys list: every key in id order, read a page at a time; --limit and --after page it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'entente-cli-'));
    const data = join(dir, 'data');
    const cli = (...args: string[]) => entente(['--data-dir', data, 'keys', 'list', ...args], { cwd: ROOT });
    assert.equal(
      entente(['--data-dir', data, 'keys', 'create', '--tenant', 'acme', '--id', 'a-first'], { cwd: ROOT })
        .status,
      0,
    );
    // 2,500 more: more than two of the store reads (1,000 keys each) the listing makes.
    const store = new SqliteStore(join(data, 'entente.db'));
    for (let i = 0; i < 2_500; i++)
      await store.putApiKey({
        id: `k-${String(i).padStart(5, '0')}`,
        tenantId: i % 2 ? 'acme' : 'globex',
        sha256: createHash('sha256').update(`k${i}`).digest('hex'),
        models: ['*'],
        createdAtMs: 1,
        revokedAtMs: i === 7 ? 2 : null,
      });
    const ids = (await store.listApiKeys()).map((k) => k.id);
    await store.close();
    const idsOf = (out: string) =>
      out
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split('\t')[0] ?? '');
    const all = cli();
    assert.equal(all.status, 0, all.stderr);
    assert.deepEqual(idsOf(all.stdout), ids);
    assert.equal(ids.length, 2_501);
    assert.doesNotMatch(all.stderr, /more keys/);
    assert.match(all.stdout, /^k-00007\ttenant=acme\t.*\trevoked 1970-01-01T00:00:00\.002Z$/m);
    // Pages of 1,000 named by stderr's --after, until the last, give the same keys.
    const paged: string[] = [];
    let after: string[] = [];
    for (let i = 0; i < 4; i++) {
      const page = cli('--limit', '1000', ...after);
      assert.equal(page.status, 0, page.stderr);
      paged.push(...idsOf(page.stdout));
      const next = /^entente: more keys: --after (\S+)$/m.exec(page.stderr);
      if (!next) break;
      assert.equal(next[1], paged.at(-1));
      after = ['--after', next[1]!];
    }
    assert.deepEqual(paged, ids);
    const json = cli('--json', '--limit', '2', '--after', 'k-00100');
    assert.deepEqual(
      (JSON.parse(json.stdout) as { id: string; sha256Prefix: string }[]).map((k) => [
        k.id,
        k.sha256Prefix.length,
      ]),
      [
        ['k-00101', 8],
        ['k-00102', 8],
      ],
    );
    assert.deepEqual(JSON.parse(cli('--json', '--after', 'k-02499').stdout), []);
    for (const bad of [
      ['--limit', '0'],
      ['--limit', '-1'],
      ['--limit', '1.5'],
      ['--limit', 'abc'],
      ['--limit', '1000001'],
      ['--after', "a'--"],
      ['--after', ''],
      ['--after', 'x'.repeat(65)],
    ]) {
      const r = cli(...bad);
      assert.equal(r.status, 2, `${bad.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(bad[0]!));
      assert.equal(r.stdout, '');
    }
  });

  test('every read command takes --json and prints JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'entente-cli-'));
    const data = join(dir, 'data');
    assert.equal(
      entente(['--data-dir', data, 'keys', 'create', '--tenant', 'acme'], { cwd: ROOT }).status,
      0,
    );
    const reads = COMMANDS.flatMap((c) =>
      c.subs ? c.subs.filter((s) => s.json).map((s) => [c.name, s.name]) : c.json ? [[c.name]] : [],
    );
    assert.ok(reads.length >= 12, `${reads.length} read commands`);
    const results = await Promise.all(
      reads.map((args) => {
        const extra = args.join(' ') === 'route explain' ? ['--model', 'gpt-4o'] : [];
        return ententeAsync(['--data-dir', data, ...args, ...extra, '--json']).then((r) => ({ args, r }));
      }),
    );
    for (const { args, r } of results) {
      assert.equal(r.status, 0, `${args.join(' ')} --json: ${r.stderr}`);
      assert.doesNotThrow(
        () => JSON.parse(r.stdout),
        `${args.join(' ')} --json prints JSON: ${r.stdout.slice(0, 200)}`,
      );
    }
  });

  test('start-up errors are one line that names the fix: a taken port, a missing credential variable', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const dir = mkdtempSync(join(tmpdir(), 'entente-cli-'));
      writeFileSync(join(dir, 'entente.yaml'), MINIMAL);
      const taken = entente(['serve', '--port', String(port)], { cwd: dir });
      assert.equal(taken.status, 1);
      assert.match(
        taken.stderr,
        new RegExp(
          `^entente: \\[port_in_use\\] the gateway cannot listen on 127\\.0\\.0\\.1:${port}: the port is taken .*--port, ENTENTE_PORT or server\\.port in ${join(dir, 'entente.yaml')}\\.$`,
          'm',
        ),
      );
      assert.doesNotMatch(taken.stderr, /\n\s+at /);
    } finally {
      blocker.close();
    }
    const dir = mkdtempSync(join(tmpdir(), 'entente-cli-'));
    writeFileSync(
      join(dir, 'entente.yaml'),
      MINIMAL.replace('auth: { apiKey: x }', 'auth: { apiKeyEnv: ENTENTE_TEST_NO_SUCH_KEY }'),
    );
    // config validate makes the checks serve makes: a file it calls valid starts.
    const invalid = entente(['config', 'validate'], { cwd: dir });
    assert.equal(invalid.status, 1);
    assert.match(
      invalid.stderr,
      /^entente: \[env_missing\] upstream az: environment variable ENTENTE_TEST_NO_SUCH_KEY \(its API key\) is not set$/m,
    );
  });
});
