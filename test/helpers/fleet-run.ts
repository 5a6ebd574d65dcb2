// The fleet chaos run: three real `entente serve` nodes on one PostgreSQL database and one Redis,
// behind HAProxy running examples/cluster/haproxy.cfg, under a mix of JSON, streamed and
// embeddings requests on two simulated clouds; the primary cloud's faults are switched on and off,
// and every node is killed with SIGKILL at a random moment and restarted. Afterwards: every
// request the client saw succeed has exactly one usage record and one ledger posting, nothing is
// doubled or left unposted, the ledger balances, and the revenue share equals an independent
// computation from the usage the clients received, never past its cap.
//
//   npm run chaos            FLEET_REQUESTS=10000 FLEET_CONCURRENCY=100 (defaults)
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Simulator, startSimulator } from '../../sim/index.js';
import { assertRowsBalanced, parsePriceBooks, priceOf, revenuePicoOf } from '../../src/ledger/index.js';
import { PostgresStore } from '../../src/store/index.js';
import { pgAdmin } from './fleet-schema.js';
import { startHaproxy } from './haproxy.js';
import { freePort, seeded } from './random.js';
import { lostAndDoubled } from './records.js';
import { shareAgreementYaml } from './share-agreement.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const cli = join(root, 'bin/entente.js');
const KEY = 'sk-fleet-chaos';
const PRICES =
  'currency: USD\nbooks:\n  - { id: b, effectiveFrom: 2020-01-01T00:00:00Z, prices: [{ model: gpt-4o-mini, inputUncached: "150", inputCached: "75", output: "600" }, { model: emb, inputUncached: "20", inputCached: "20", output: "0" }] }\n';
const CAP = '2'; // USD: reached during the run, so the test sees it hold

export interface FleetRunOptions {
  /** 3 by default; 1 puts one node behind the same HAProxy (all three server lines point at it). */
  readonly nodes?: 1 | 3;
  /** Chaos on (default): each node killed once, the primary's faults flipping. Off: a clean run. */
  readonly chaos?: boolean;
  readonly requests: number;
  readonly concurrency: number;
  readonly seed: number;
  readonly pgUrl: string;
  readonly redisUrl: string;
  readonly log?: (line: string) => void;
}

export interface FleetRunReport {
  readonly requests: number;
  readonly successes: number;
  readonly streams: number;
  readonly embeddings: number;
  readonly kills: number;
  readonly faultToggles: number;
  readonly usageRecords: number;
  readonly lost: readonly string[];
  readonly doubled: readonly string[];
  readonly missingPostings: readonly string[];
  readonly unposted: number;
  /** Successes whose record's tokens differ from the usage the client was told. */
  readonly usageMismatches: readonly string[];
  readonly accruedMicros: string;
  readonly expectedAccruedMicros: string;
  readonly capMicros: string;
  readonly throughputPerS: number;
}

interface Node {
  readonly id: string;
  readonly port: number;
  readonly dir: string;
  proc: ChildProcess;
  exited: Promise<number | null>;
}

function launch(n: Omit<Node, 'proc' | 'exited'>, cfg: string, env: NodeJS.ProcessEnv): Promise<Node> {
  const proc = spawn(
    process.execPath,
    [cli, 'serve', '--config', cfg, '--port', String(n.port), '--data-dir', n.dir],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...env, ENTENTE_NODE_ID: n.id },
    },
  );
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    let serving = false;
    const onData = (d: Buffer) => {
      if (serving) return;
      out += d.toString();
      if (/Entente is serving/.test(out)) {
        serving = true;
        resolve({ ...n, proc, exited });
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    void exited.then((code) => {
      if (!serving) reject(new Error(`node ${n.id} exited ${code} before serving: ${out}`));
    });
  });
}

interface Usage {
  readonly input: number;
  readonly output: number;
}

/** One request through the load balancer; its id and the usage the client was told, if it succeeded. */
async function oneRequest(
  url: string,
  kind: 'json' | 'stream' | 'emb',
  words: number,
): Promise<{ id: string; usage: Usage } | null> {
  const text = Array.from({ length: words }, (_, i) => `w${i}`).join(' ');
  try {
    const emb = kind === 'emb';
    const r = await fetch(`${url}/v1/${emb ? 'embeddings' : 'chat/completions'}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(
        emb
          ? { model: 'emb', input: text }
          : {
              model: 'gpt-4o-mini',
              stream: kind === 'stream',
              ...(kind === 'stream' ? { stream_options: { include_usage: true } } : {}),
              messages: [{ role: 'user', content: text }],
            },
      ),
    });
    const id = r.headers.get('x-request-id');
    const body = await r.text();
    if (r.status !== 200 || !id) return null;
    if (kind === 'stream') {
      if (!body.endsWith('data: [DONE]\n\n')) return null;
      const last = body
        .split('\n\n')
        .map((e) => e.replace(/^data: /, ''))
        .filter((e) => e.startsWith('{'))
        .map((e) => JSON.parse(e) as { usage?: { prompt_tokens: number; completion_tokens: number } })
        .find((e) => e.usage);
      return last?.usage
        ? { id, usage: { input: last.usage.prompt_tokens, output: last.usage.completion_tokens } }
        : null;
    }
    const j = JSON.parse(body) as { usage?: { prompt_tokens: number; completion_tokens?: number } };
    return j.usage
      ? { id, usage: { input: j.usage.prompt_tokens, output: j.usage.completion_tokens ?? 0 } }
      : null;
  } catch {
    return null; // the node died under this request: no complete answer
  }
}

function configYaml(dir: string, azure: Simulator, openai: Simulator, namespace: string): string {
  writeFileSync(join(dir, 'prices.yaml'), PRICES);
  writeFileSync(
    join(dir, 'agreement.yaml'),
    shareAgreementYaml({
      payer: 'openai',
      payee: 'microsoft',
      rate: '20/100',
      cap: CAP,
      from: '2020-01-01T00:00:00Z',
    }),
  );
  return `server: { host: 127.0.0.1, shutdownGraceMs: 10000, maxConnectionsPerClient: 100000 }
routing: { primaryCloud: azure, cooldown: { failureThreshold: 2, cooldownMs: 300, maxCooldownMs: 1000 } }
upstreams:
  - { id: az, provider: openai, cloud: azure, baseUrl: "${azure.url}/v1", auth: { apiKey: k } }
  - { id: oa, provider: openai, cloud: openai, baseUrl: "${openai.url}/v1", auth: { apiKey: k } }
models:
  - name: gpt-4o-mini
    deployments: [{ upstream: az, deployment: gpt-4o-mini, modelVersion: "1" }, { upstream: oa, deployment: gpt-4o-mini, modelVersion: "1" }]
  - name: emb
    deployments: [{ upstream: az, deployment: text-embedding-3-small, modelVersion: "1" }, { upstream: oa, deployment: text-embedding-3-small, modelVersion: "1" }]
tenants:
  - id: t
    keys: [{ id: k, sha256: ${createHash('sha256').update(KEY).digest('hex')} }]
agreement: { file: ${join(dir, 'agreement.yaml')} }
ledger: { priceBooks: ${join(dir, 'prices.yaml')}, owner: openai, intervalMs: 200 }
cluster: { namespace: ${namespace}, nodeId: "\${ENTENTE_NODE_ID}", heartbeatMs: 500 }
observability: { accessLog: false }
`;
}

export async function fleetRun(o: FleetRunOptions): Promise<FleetRunReport> {
  const log = o.log ?? (() => {});
  const random = seeded(o.seed);
  const dir = mkdtempSync(join(tmpdir(), 'entente-fleet-'));
  const db = `entente_fleet_${randomBytes(4).toString('hex')}`;
  await pgAdmin(o.pgUrl, `CREATE DATABASE ${db}`);
  const dbUrl = o.pgUrl.replace(/\/[^/]*$/, `/${db}`);
  const azure = await startSimulator({ kind: 'openai', apiKey: 'k', latencyMs: 1, tokensPerSecond: 2_000 });
  const openai = await startSimulator({ kind: 'openai', apiKey: 'k', latencyMs: 1, tokensPerSecond: 2_000 });
  const cfg = join(dir, 'entente.yaml');
  writeFileSync(cfg, configYaml(dir, azure, openai, `chaos-${randomBytes(4).toString('hex')}`));
  const procs: ChildProcess[] = [];
  try {
    return await runFleet(o, { dir, dbUrl, cfg, azure, openai, procs, log, random });
  } finally {
    for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
    await Promise.all([azure.close(), openai.close()]);
    await pgAdmin(o.pgUrl, `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`).catch(() => undefined);
  }
}

interface RunParts {
  readonly dir: string;
  readonly dbUrl: string;
  readonly cfg: string;
  readonly azure: Simulator;
  readonly openai: Simulator;
  /** Every process started, so that a failing run leaves none behind. */
  readonly procs: ChildProcess[];
  readonly log: (line: string) => void;
  readonly random: () => number;
}

async function runFleet(o: FleetRunOptions, p: RunParts): Promise<FleetRunReport> {
  const { dir, dbUrl, cfg, azure, log, random } = p;
  const env = { ...process.env, DATABASE_URL: dbUrl, REDIS_URL: o.redisUrl, ENTENTE_LOG_LEVEL: 'warn' };
  const specs = await Promise.all(
    ['n1', 'n2', 'n3'].slice(0, o.nodes ?? 3).map(async (id) => {
      const d = join(dir, id);
      mkdirSync(d);
      return { id, port: await freePort(), dir: d };
    }),
  );
  // The first node migrates the database alone; the others then start together.
  const start = async (s: Omit<Node, 'proc' | 'exited'>) => {
    const n = await launch(s, cfg, env);
    p.procs.push(n.proc);
    return n;
  };
  const nodes: Node[] = [await start(specs[0]!)];
  nodes.push(...(await Promise.all(specs.slice(1).map((s) => start(s)))));
  const lb = await startHaproxy(specs.map((s) => `127.0.0.1:${s.port}`));
  p.procs.push(lb.proc);
  const url = lb.url;

  const successes = new Map<string, { usage: Usage; kind: string }>();
  let sent = 0;
  let done = 0;
  let kills = 0;
  let faultToggles = 0;
  // Each node is killed once, at a random point of the run; faults flip every so often.
  const chaos = o.chaos ?? true;
  const killAt = nodes.map(() => (chaos ? Math.floor(o.requests * (0.15 + random() * 0.7)) : -1));
  const flipEvery = chaos ? Math.max(50, Math.floor(o.requests / 12)) : Number.POSITIVE_INFINITY;
  const restarts: Promise<void>[] = [];
  const t0 = performance.now();
  const client = async () => {
    while (sent < o.requests) {
      sent++;
      const roll = random();
      const kind = roll < 0.45 ? 'json' : roll < 0.9 ? 'stream' : 'emb';
      const r = await oneRequest(url, kind, 2 + Math.floor(random() * 40));
      done++;
      if (r) successes.set(r.id, { usage: r.usage, kind });
      if (done % flipEvery === 0) {
        faultToggles++;
        azure.setFault(faultToggles % 2 === 1 ? { kind: 'server_error' } : null);
      }
      nodes.forEach((n, i) => {
        if (done === killAt[i]) {
          kills++;
          log(`kill ${n.id} after ${done} requests`);
          n.proc.kill('SIGKILL');
          restarts.push(
            n.exited.then(async () => {
              const again = await start(n);
              n.proc = again.proc;
              n.exited = again.exited;
              log(`restarted ${n.id}`);
            }),
          );
        }
      });
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, () => client()));
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all(restarts);
  azure.setFault(null);
  lb.proc.kill('SIGTERM');
  for (const n of nodes) n.proc.kill('SIGTERM');
  await Promise.all(nodes.map((n) => n.exited));

  const store = new PostgresStore(dbUrl);
  try {
    const usage = await store.listUsage({ limit: 10_000_000 });
    const byId = new Map(usage.map((u) => [u.requestId, u]));
    const rows = await store.ledgerRows();
    assertRowsBalanced(rows);
    const revenueTx = new Set(rows.filter((r) => r.code === 'revenue').map((r) => r.txId));
    const ids = [...successes.keys()];
    // The independent computation: priced from the usage the clients were told (for successes)
    // and the stored tokens of every other record (failures, cut streams).
    const books = parsePriceBooks(PRICES, 'p.yaml');
    let pico = 0n;
    for (const u of usage) {
      const told = successes.get(u.requestId)?.usage;
      const tokens = told
        ? {
            tokensInputUncached: told.input,
            tokensInputCached: 0,
            tokensOutput: told.output,
            tokensReasoning: 0,
          }
        : u;
      const p = priceOf(books, u.model, u.modelVersion, u.startedAtMs);
      if (p) pico += revenuePicoOf(p.entry, tokens);
    }
    const capMicros = BigInt(CAP) * 1_000_000n;
    const uncapped = (pico * 20n) / (100n * 1_000_000n);
    const expected = uncapped > capMicros ? capMicros : uncapped;
    const accrued = rows
      .filter((r) => r.account.startsWith('revshare-payable:'))
      .reduce((a, r) => a - r.amountMicros, 0n);
    return {
      requests: sent,
      successes: successes.size,
      streams: [...successes.values()].filter((s) => s.kind === 'stream').length,
      embeddings: [...successes.values()].filter((s) => s.kind === 'emb').length,
      kills,
      faultToggles,
      usageRecords: usage.length,
      ...lostAndDoubled(usage, ids),
      missingPostings: ids.filter((id) => !revenueTx.has(`revenue:${id}`)),
      unposted: (await store.pendingUsage(1_000_000)).length,
      usageMismatches: ids.filter((id) => {
        const u = byId.get(id);
        const told = successes.get(id)!.usage;
        return (
          !u ||
          u.tokensInputUncached + u.tokensInputCached !== told.input ||
          u.tokensOutput + u.tokensReasoning !== told.output
        );
      }),
      accruedMicros: String(accrued),
      expectedAccruedMicros: String(expected),
      capMicros: String(capMicros),
      throughputPerS: Math.round(sent / seconds),
    };
  } finally {
    await store.close();
  }
}

// Run directly (npm run chaos): the full version, with its figures printed.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const report = await fleetRun({
    requests: Number(process.env.FLEET_REQUESTS ?? 10_000),
    concurrency: Number(process.env.FLEET_CONCURRENCY ?? 100),
    seed: Number(process.env.FLEET_SEED ?? Math.floor(Math.random() * 100_000)),
    pgUrl: process.env.ENTENTE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
    redisUrl: process.env.ENTENTE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
    log: (l) => process.stderr.write(`${l}\n`),
  });
  process.stdout.write(
    `${JSON.stringify({ ...report, lost: report.lost.length, doubled: report.doubled.length }, null, 2)}\n`,
  );
  const bad =
    report.lost.length ||
    report.doubled.length ||
    report.missingPostings.length ||
    report.unposted ||
    report.usageMismatches.length ||
    report.accruedMicros !== report.expectedAccruedMicros;
  process.exit(bad ? 1 : 0);
}
