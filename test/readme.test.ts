// The README is true: every command of its shell blocks is run, in order, against a gateway
// started as `npm start` starts it (the shipped example config, on free ports, in a fresh data
// directory), and the outcome the README states beside it is checked. A command this test does
// not run is listed in NOT_RUN with the reason, and a test fails when the README gains a command
// that is in neither list.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually } from './helpers/eventually.js';
import { type Finished, runProcess } from './helpers/run-process.js';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin/entente.js');

/** The README's shell commands, in order: continuations joined, comments kept apart. */
export function readmeCommands(markdown: string): { command: string; comment: string }[] {
  const out: { command: string; comment: string }[] = [];
  for (const block of markdown.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const lines = block[1]!.split('\n');
    let pending = '';
    for (const raw of lines) {
      const { code, comment } = splitComment(raw);
      if (code.trim().endsWith('\\')) {
        pending += `${code.trim().slice(0, -1)} `;
        continue;
      }
      const command = (pending + code).trim();
      pending = '';
      if (command) out.push({ command, comment });
      else if (comment && out.length > 0) out.at(-1)!.comment += ` ${comment}`;
    }
  }
  return out;
}

/** `cmd   # comment` → both, where the # is outside quotes and starts a word. */
function splitComment(line: string): { code: string; comment: string } {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!)))
      return { code: line.slice(0, i), comment: line.slice(i + 1).trim() };
  }
  return { code: line, comment: '' };
}

/** Commands this test does not run, and why; each is covered elsewhere or needs what CI lacks. */
const NOT_RUN: readonly [RegExp, string][] = [
  [
    /^npm install && npm start$/,
    'this test starts the gateway as npm start does (entente serve, the example config)',
  ],
  [/^npm test$/, 'this test is part of npm test'],
  [/^npm install && npm run build$/, 'CI builds before the tests'],
  [/^psql /, 'the fleet walkthrough: test/fleet.test.ts runs three nodes on PostgreSQL behind HAProxy'],
  [/^export /, 'the fleet walkthrough (environment for the lines below)'],
  [/entente serve --port 808[123]/, 'the fleet walkthrough: test/fleet.test.ts'],
  [/^sleep 3; /, 'the fleet walkthrough: test/fleet.test.ts'],
  [
    /haproxy -f examples\/cluster\/haproxy.cfg/,
    'the fleet walkthrough: test/helpers/haproxy.ts runs this file',
  ],
  [/v1\/entente\/nodes$/, 'the fleet walkthrough: the nodes API is tested in test/fleet.test.ts'],
  [/^npm run chaos$/, 'a long run; its small version is test/fleet-chaos.test.ts'],
  [/^npm run bench:fleet$/, 'a benchmark, not a test'],
];

interface Ctx {
  readonly url: string;
  readonly sims: Record<string, string>;
  /** Values the README writes as placeholders (<key-id>, <id>, <key>), from earlier outputs. */
  readonly vars: Map<string, string>;
}

type Ran = Finished;

type Check = (r: Ran, ctx: Ctx) => void | Promise<void>;

const ok: Check = (r) => assert.equal(r.status, 0, r.stderr);
const header = (r: Ran, name: string) =>
  new RegExp(`^${name}: (.*)$`, 'mi').exec(r.stdout)?.[1]?.trim() ?? null;
const keyOf = (r: Ran) => JSON.parse(r.stdout.split('\n')[0]!) as { id: string; key: string };

/** What the README says of each command, in its order. */
const CHECKS: readonly [RegExp, Check][] = [
  [
    /^curl -s http:\/\/127\.0\.0\.1:8080\/v1\/chat\/completions .*"model":"gpt-4o".* -D -$/,
    (r, ctx) => {
      ok(r, ctx);
      // "x-entente-cloud: azure, x-entente-deployment: azure-eastus/gpt-4o-prod (or azure-swedencentral/gpt-4o-eu…)"
      assert.equal(header(r, 'x-entente-cloud'), 'azure');
      assert.match(
        header(r, 'x-entente-deployment') ?? '',
        /^(azure-eastus\/gpt-4o-prod|azure-swedencentral\/gpt-4o-eu)$/,
      );
      assert.match(header(r, 'x-entente-attempts') ?? '', /^\d+$/);
      assert.match(header(r, 'x-entente-overhead-ms') ?? '', /^\d+\.\d{3}$/);
      assert.match(header(r, 'x-request-id') ?? '', /^req_/);
    },
  ],
  [
    /^curl -X POST http:\/\/127\.0\.0\.1:18081\/_sim\/fault -d '\{"kind":"server_error"\}'$/,
    async (r, ctx) => {
      ok(r, ctx);
      // The stated outcomes of the comment lines below it: run the chat request again.
      const chat = (model: string) =>
        run(
          `curl -s ${ctx.url}/v1/chat/completions -H 'Authorization: Bearer sk-entente-demo-0000000000000000' -H 'Content-Type: application/json' -d '{"model":"${model}","messages":[{"role":"user","content":"Hello"}]}' -D -`,
          ctx,
        );
      const first = await chat('gpt-4o');
      assert.equal(header(first, 'x-entente-cloud'), 'openai');
      assert.equal(header(first, 'x-entente-attempts'), '3', 'both Azure deployments, then OpenAI');
      await chat('gpt-4o');
      const third = await chat('gpt-4o');
      assert.equal(
        header(third, 'x-entente-attempts'),
        '1',
        'the Azure deployments cool down and are skipped',
      );
      const oss = await chat('gpt-oss-120b');
      assert.equal(header(oss, 'x-entente-cloud'), 'aws', 'gpt-oss-120b goes to Bedrock instead');
    },
  ],
  [
    /^curl -X POST http:\/\/127\.0\.0\.1:18083\/_sim\/fault -d '\{"kind":"rate_limit"\}'$/,
    async (r, ctx) => {
      ok(r, ctx);
      const oss = await run(
        `curl -s ${ctx.url}/v1/chat/completions -H 'Authorization: Bearer sk-entente-demo-0000000000000000' -H 'Content-Type: application/json' -d '{"model":"gpt-oss-120b","messages":[{"role":"user","content":"Hello"}]}' -D -`,
        ctx,
      );
      assert.equal(header(oss, 'x-entente-cloud'), 'gcp', 'gpt-oss-120b is now served by Vertex AI');
    },
  ],
  [/^curl -X POST http:\/\/127\.0\.0\.1:18081\/_sim\/fault -d 'null'$/, ok],
  [
    /^npx entente --help$/,
    (r, ctx) => {
      ok(r, ctx);
      assert.match(r.stdout, /^Usage: entente /);
    },
  ],
  [
    /^npx entente config explain server\.port$/,
    (r, ctx) => {
      ok(r, ctx);
      assert.match(r.stdout, /^server\.port\n {2}type: {5}number\n {2}default: {2}8080/);
    },
  ],
  [
    /^eval "\$\(npx entente completion bash\)"$/,
    async (r, ctx) => {
      ok(r, ctx);
      const c = await run(
        `eval "$(node ${BIN} completion bash)"; COMP_WORDS=(entente cap); COMP_CWORD=1; _entente; echo "\${COMPREPLY[*]}"`,
        ctx,
      );
      assert.equal(c.stdout.trim(), 'capacity');
    },
  ],
  [/^npx entente agreement validate \[FILE\]$/, ok],
  [
    /^npx entente agreement show --as-of 2026-01-01$/,
    (r, ctx) => {
      ok(r, ctx);
      assert.match(r.stdout, /2025-10-definitive/);
      assert.match(r.stdout, /exclusive/i, 'Azure exclusive then');
    },
  ],
  [
    /^npx entente agreement diff$/,
    (r, ctx) => {
      ok(r, ctx);
      assert.match(r.stdout, /2026-04-amendment/);
    },
  ],
  [
    /^npx entente rollout status$/,
    (r, ctx) => {
      ok(r, ctx);
      assert.match(r.stdout, /gpt-5\.5/);
    },
  ],
  [
    /^npx entente rollout promote gpt-5\.5 2026-11-20 openai ga$/,
    (r) => {
      assert.equal(r.status, 1, 'refused: not GA on Azure yet');
      assert.match(r.stderr, /primary|azure/i);
    },
  ],
  [/^npx entente rollout promote gpt-5\.5 2026-11-20 azure ga$/, ok],
  [
    /^npx entente route explain --model gpt-5\.5 --tenant microsoft$/,
    (r, ctx) => {
      ok(r, ctx);
      // "then OpenAI may serve it too"
      assert.match(r.stdout, /openai/);
    },
  ],
  [
    /^npx entente route explain --model gpt-oss-120b$/,
    (r, ctx) => {
      ok(r, ctx);
      assert.match(r.stdout, /open-weight-models/);
    },
  ],
  [
    /^npx entente route explain --model llama-3\.3-70b$/,
    (r, ctx) => {
      ok(r, ctx);
      assert.match(r.stdout, /outside|not governed|no agreement/i);
    },
  ],
  [
    /^npx entente audit$/,
    (r, ctx) => {
      ok(r, ctx);
      assert.match(r.stdout, /rollout\.event gpt-5\.5/, 'the promotion just made is there, newest first');
    },
  ],
  [/^npx entente ledger balances$/, ok],
  [
    /^npx entente ledger statement --period 2026-11 --format csv$/,
    (r, ctx) => {
      ok(r, ctx);
      assert.match(r.stdout.split('\n')[0]!, /,/);
    },
  ],
  [/^npx entente ledger close --period 2026-10$/, ok],
  [
    /^npx entente revenue-share status$/,
    (r, ctx) => {
      ok(r, ctx);
      assert.match(r.stdout, /cap/);
    },
  ],
  [
    /^npx entente prices show$/,
    (r, ctx) => {
      ok(r, ctx);
      assert.match(r.stdout, /gpt-4o@/);
    },
  ],
  [
    /^npx entente usage replay$/,
    (r) => {
      // "gateway stopped": with this one running, a replay (which empties the ledger) is refused.
      assert.equal(r.status, 1);
      assert.match(r.stderr, /\[spool_locked\] a gateway \(process \d+\) is serving from .*; stop it before/);
    },
  ],
  [
    /^npx entente keys create --tenant acme --models gpt-4o,gpt-4o-mini$/,
    (r, ctx) => {
      ok(r, ctx);
      const k = keyOf(r);
      assert.match(k.key, /^sk-/);
      ctx.vars.set('<key-id>', k.id);
      ctx.vars.set('<key>', k.key);
    },
  ],
  [
    /^npx entente keys list$/,
    (r, ctx) => {
      ok(r, ctx);
      assert.ok(r.stdout.includes(ctx.vars.get('<key-id>')!));
      assert.ok(!r.stdout.includes(ctx.vars.get('<key>')!), 'the secret is never listed');
    },
  ],
  [/^npx entente keys revoke <key-id>$/, ok],
  [
    /^npx entente keys hash <key>$/,
    (r, ctx) => {
      ok(r, ctx);
      assert.match(r.stdout, /^[0-9a-f]{64}\n$/);
    },
  ],
  [/^A='Authorization: Bearer sk-entente-admin-0000000000000000'$/, ok],
  [
    /^curl -H "\$A" -d '\{"tenant":"acme".*\/v1\/entente\/keys$/,
    (r, ctx) => {
      ok(r, ctx);
      const k = JSON.parse(r.stdout) as { id: string; key: string };
      assert.match(k.key, /^sk-/, '201 with the key, shown this once');
      ctx.vars.set('<id>', k.id);
    },
  ],
  [
    /^curl -H "\$A" -d '\{"graceSeconds":3600\}' .*\/keys\/rotate\/<id>$/,
    (r, ctx) => {
      ok(r, ctx);
      const k = JSON.parse(r.stdout) as { id: string; previous?: { expiresAt: string } };
      assert.ok(k.id && k.id !== ctx.vars.get('<id>'));
      ctx.vars.set('<id>', k.id);
    },
  ],
  [/^curl -H "\$A" -X POST .*\/keys\/revoke\/<id>$/, ok],
  [
    /^curl -H "\$A" 'http:\/\/127\.0\.0\.1:8080\/v1\/entente\/keys\?limit=2'$/,
    (r, ctx) => {
      ok(r, ctx);
      assert.doesNotMatch(r.stdout, /"key":|sk-entente-demo/, 'no secret');
      assert.match(r.stdout, /"sha256Prefix"/);
      const page = JSON.parse(r.stdout) as { keys: { id: string }[]; next: string | null };
      assert.equal(page.keys.length, 2);
      assert.equal(page.next, page.keys[1]!.id, 'more keys than one page: next is its last id');
      ctx.vars.set('<next>', page.next!);
    },
  ],
  [
    /^curl -H "\$A" 'http:\/\/127\.0\.0\.1:8080\/v1\/entente\/keys\?limit=2&after=<next>'$/,
    (r, ctx) => {
      ok(r, ctx);
      const page = JSON.parse(r.stdout) as { keys: { id: string }[] };
      assert.ok(page.keys.length >= 1);
      assert.ok(
        page.keys.every((k) => k.id > ctx.vars.get('<next>')!),
        'the page after it',
      );
    },
  ],
  [
    /^npx entente keys create --tenant acme --rpm 60 --budget 5\.00\/month$/,
    (r, ctx) => {
      ok(r, ctx);
      const k = keyOf(r);
      ctx.vars.set('<key-id>', k.id);
      ctx.vars.set('<key>', k.key);
    },
  ],
  [
    /^curl -si http:\/\/127\.0\.0\.1:8080\/v1\/chat\/completions -H "authorization: Bearer <key>" .*\| grep -i '\^x-ratelimit\\\|\^x-entente-max'$/,
    async (_r, ctx) => {
      // "a running gateway picks the key up within 5 s": the command is repeated until it does.
      const t0 = performance.now();
      const cmd = `curl -si ${ctx.url}/v1/chat/completions -H "authorization: Bearer ${ctx.vars.get('<key>')}" -H 'content-type: application/json' -d '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}'`;
      const r = await eventually(async () => {
        const x = await run(cmd, ctx);
        return /^HTTP\/1\.1 200/.test(x.stdout) ? x : null;
      }, 'the new key to work');
      assert.ok(performance.now() - t0 < 6_000, 'within 5 s');
      assert.equal(header(r, 'x-entente-max-tokens'), '4096');
      assert.equal(header(r, 'x-ratelimit-limit-requests'), '60');
      assert.equal(header(r, 'x-ratelimit-remaining-requests'), '59');
      assert.equal(header(r, 'x-ratelimit-reset-requests'), '1m0s');
    },
  ],
  [/^npx entente keys limits <key-id> --rpm 60 --tpm 100000 --concurrent 4$/, ok],
  [
    /^npx entente capacity status$/,
    (r, ctx) => {
      ok(r, ctx);
      assert.match(r.stdout, /azure-eastus-o4-mini-ptu/);
    },
  ],
  [/^npx entente capacity forecast$/, ok],
];

let gateway: ChildProcess;
let ctx: Ctx;
const dataDir = mkdtempSync(join(tmpdir(), 'entente-readme-'));
const env = {
  ...process.env,
  ENTENTE_DATA_DIR: dataDir,
  ENTENTE_SIM_AZURE_PORT: '0',
  ENTENTE_SIM_OPENAI_PORT: '0',
  ENTENTE_SIM_BEDROCK_PORT: '0',
  ENTENTE_SIM_GOOGLE_PORT: '0',
  ENTENTE_CONFIG: '',
};
delete (env as Record<string, string | undefined>).DATABASE_URL;
delete (env as Record<string, string | undefined>).REDIS_URL;

/** A README command as written, with its addresses and placeholders bound to this run. */
function bind(command: string, c: Ctx): string {
  let s = command
    .replaceAll('npx entente', `node ${BIN}`)
    .replaceAll('http://127.0.0.1:8080', c.url)
    .replaceAll('http://127.0.0.1:18081', c.sims['azure-sim']!)
    .replaceAll('http://127.0.0.1:18083', c.sims['bedrock-sim']!)
    .replace(' [FILE]', '');
  for (const [k, v] of c.vars) if (k.startsWith('<')) s = s.replaceAll(k, v);
  return s;
}

async function run(command: string, c: Ctx): Promise<Ran> {
  // The README's variables (A=…) persist across its commands, as in one shell.
  const prelude = [...c.vars].filter(([k]) => /^[A-Z]$/.test(k)).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  const r = await runProcess('bash', ['-c', [...prelude, command].join('\n')], { cwd: ROOT, env });
  return { ...r, stdout: r.stdout.replace(/\r\n/g, '\n') };
}

describe('the README, run', () => {
  before(async () => {
    assert.equal(spawnSync('which', ['curl']).status, 0, 'curl is needed');
    gateway = spawn(process.execPath, [BIN, 'serve', '--port', '0'], { cwd: ROOT, env });
    let out = '';
    gateway.stdout!.on('data', (d: Buffer) => {
      out += d;
    });
    gateway.stderr!.resume();
    const line = await eventually(
      () => out.split('\n').find((l) => l.includes('"entente is serving"')) ?? null,
      'the gateway to serve',
      30_000,
    );
    const started = JSON.parse(line) as { url: string; simulators: Record<string, string> };
    ctx = { url: started.url, sims: started.simulators, vars: new Map() };
  });
  after(() => {
    gateway?.kill('SIGTERM');
  });

  test('every shell command of the README is run or listed as not run, with its reason', () => {
    const commands = readmeCommands(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    assert.ok(commands.length > 40, `${commands.length} commands`);
    const unknown = commands.filter(
      (c) => !CHECKS.some(([re]) => re.test(c.command)) && !NOT_RUN.some(([re]) => re.test(c.command)),
    );
    assert.deepEqual(
      unknown.map((c) => c.command),
      [],
      'a README command needs a check here, or a reason not to run it',
    );
  });

  test('every file of this repository the README and docs/ name exists', () => {
    const files = [
      'README.md',
      'bench/README.md',
      ...readdirSync(join(ROOT, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .map((f) => `docs/${f}`),
    ];
    const missing: string[] = [];
    let named = 0;
    for (const f of files) {
      const text = readFileSync(join(ROOT, f), 'utf8');
      // A path in the repository, not part of a URL (`/_sim/fault`) or a generated folder.
      for (const m of text.matchAll(
        /(?<![\w/_.-])(src|test|docs|examples|bench|sim|scripts)\/[A-Za-z0-9_./-]*[A-Za-z0-9_]/g,
      )) {
        const path = m[0];
        if (/^bench\/(\.portkey|results)/.test(path)) continue;
        named++;
        if (!existsSync(join(ROOT, path))) missing.push(`${f}: ${path}`);
      }
    }
    assert.ok(named > 50, `${named} paths named`);
    assert.deepEqual(missing, []);
  });

  test('each command does what the README says', async (t) => {
    const commands = readmeCommands(readFileSync(join(ROOT, 'README.md'), 'utf8'));
    let checked = 0;
    for (const c of commands) {
      const check = CHECKS.find(([re]) => re.test(c.command))?.[1];
      if (!check) continue;
      if (/^A='/.test(c.command)) {
        ctx.vars.set('A', c.command.slice(3, -1));
        continue;
      }
      const r = await run(bind(c.command, ctx), ctx);
      try {
        await check(r, ctx);
      } catch (err) {
        throw new Error(
          `README: ${c.command}\n${(err as Error).message}\nstdout: ${r.stdout.slice(0, 800)}\nstderr: ${r.stderr.slice(0, 800)}`,
        );
      }
      checked++;
    }
    t.diagnostic(
      `${checked} README commands run and checked; not run: ${NOT_RUN.length} kinds, each with its reason`,
    );
    assert.ok(checked >= 30);
  });
});

// The benchmarks measure Entente as `npm start` runs it: with the same node flags.
test('npm start and the benchmarks run `entente serve` under the same node flags', async () => {
  const { SERVE_NODE_FLAGS } = await import('../bench/processes.js');
  const start = (
    JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }
  ).scripts.start;
  const flags = /\bnode((?:\s+--\S+)*)\s+bin\/entente\.js serve/.exec(start)?.[1]?.trim().split(/\s+/) ?? [];
  assert.deepEqual(flags, [...SERVE_NODE_FLAGS], `npm start: ${start}`);
  const dockerfile = readFileSync(join(ROOT, 'examples/cluster/Dockerfile'), 'utf8');
  for (const f of SERVE_NODE_FLAGS)
    assert.ok(dockerfile.includes(`"${f}"`), `the Dockerfile's node has ${f}`);
});
