// What the fixed-batch benchmarks share: starting processes pinned to a core, reading a process's
// CPU time from /proc, sending a fixed batch of requests with autocannon, and the config of a
// gateway as users run it (agreement, ledger, metrics and access log on) in front of the mock.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));

/** Node's flags for `entente serve`, as `npm start` gives them (test/readme keeps the two in step). */
export const SERVE_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=64'];

export const canPin = (() => {
  try {
    execFileSync('taskset', ['-c', '0', 'true']);
    return true;
  } catch {
    return false;
  }
})();

export const pinned = (core: number, cmd: string, args: string[]): [string, string[]] =>
  canPin ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args];

/** Starts `cmd args…` on `core`; resolves once its output matches `ready` (within `timeoutMs`). */
export function start(
  core: number,
  cmd: string,
  args: string[],
  ready: RegExp,
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 20_000,
): Promise<{ proc: ChildProcess; out: string }> {
  const [c, a] = pinned(core, cmd, args);
  const proc = spawn(c, a, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    let started = false;
    const logDir = process.env.BENCH_LOG_DIR;
    if (logDir) mkdirSync(logDir, { recursive: true });
    const logFile = logDir ? join(logDir, `${proc.pid}.log`) : null;
    const onData = (d: Buffer) => {
      // BENCH_LOG_DIR keeps every process's output, to understand a failed run.
      if (logFile) appendFileSync(logFile, d);
      // Once started, the output (an access log line per request) is drained, not kept.
      if (started) return;
      out += d.toString();
      if (ready.test(out)) {
        started = true;
        resolve({ proc, out });
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`${cmd} exited ${code}: ${out}`)));
    setTimeout(() => reject(new Error(`${cmd} did not start: ${out}`)), timeoutMs).unref();
  });
}

/**
 * From an Entente's /metrics (`chatUrl` is its chat completions URL): the serving thread's event-loop
 * delay p99 in ms since the previous scrape (a scrape resets it), and the usage records spooled but
 * not yet stored (the writer's backlog). NaN for one that is not there.
 */
export async function scrapeServing(chatUrl: string): Promise<{ loopP99Ms: number; backlog: number }> {
  const text = await (await fetch(chatUrl.replace('/v1/chat/completions', '/metrics'))).text();
  const loop = /nodejs_eventloop_delay_seconds\{quantile="0\.99"\} ([\d.e+-]+)/.exec(text);
  const pending = /entente_usage_log_pending_records(?:\{[^}]*\})? ([\d.e+-]+)/.exec(text);
  return {
    loopP99Ms: loop ? Number(loop[1]) * 1000 : Number.NaN,
    backlog: pending ? Number(pending[1]) : Number.NaN,
  };
}

/** The peak resident set of a process, in MB. */
export function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** User plus system CPU time of a process, in clock ticks (10 ms). */
export const cpuTicks = (pid: number): number => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]);
};

/** CPU ticks (10 ms) per thread of a process: the main thread by its id, the others by theirs. */
export function threadTicks(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), Number(f[11]) + Number(f[12]));
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return out;
}

/** An Entente process's CPU per request (µs) by thread over a run. */
export interface ThreadCpu {
  readonly mainUs: number;
  /** The spool writer: the busiest thread but the serving one. */
  readonly writerUs: number;
  /** Every other thread: V8's helpers (garbage collection, compilers), libuv's pool. */
  readonly restUs: number;
}

export function threadCpu(
  pid: number,
  before: ReadonlyMap<number, number>,
  after: ReadonlyMap<number, number>,
  requests: number,
): ThreadCpu {
  const us = (ticks: number) => (ticks * 10_000) / requests;
  let main = 0;
  const others: number[] = [];
  for (const [tid, t] of after) {
    const d = t - (before.get(tid) ?? 0);
    if (tid === pid) main = d;
    else others.push(d);
  }
  others.sort((x, y) => y - x);
  const rest = others.slice(1).reduce((x, y) => x + y, 0);
  return { mainUs: us(main), writerUs: us(others[0] ?? 0), restUs: us(rest) };
}

/** The p-th percentile of `xs` (the sample at that rank, no interpolation); NaN when empty. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Sends `requests` chat requests (32 connections, autocannon on core 1); resolves with requests/s. */
export function fixedBatch(
  url: string,
  requests: number,
  stream = false,
  headers: Record<string, string> = {},
): Promise<number> {
  const body = benchBody(stream);
  const extra = Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]);
  const [c, a] = pinned(1, process.execPath, [
    join(root, 'node_modules/autocannon/autocannon.js'),
    '-c',
    '32',
    '-a',
    String(requests),
    // Seconds a response may take: under valgrind, a slow gateway's first answers take several.
    '-t',
    '120',
    '-m',
    'POST',
    '-j',
    '-H',
    'content-type: application/json',
    '-H',
    'authorization: Bearer sk-bench',
    ...extra,
    '-b',
    body,
    url,
  ]);
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
    });
    p.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`autocannon exited ${code}`));
      const r = JSON.parse(out) as { non2xx: number; errors: number };
      if (r.non2xx || r.errors)
        return reject(new Error(`failed requests: ${r.non2xx} non-2xx, ${r.errors} errors`));
      // Wall time of the whole batch, autocannon's start-up included (the same for every target).
      resolve(requests / ((performance.now() - t0) / 1000));
    });
  });
}

/**
 * Writes a gateway config in `dir` for the mock on `mockPort`. `shipped` adds what users run:
 * an agreement with a capped revenue share and price books (every request priced and posted).
 * Metrics and the access log are on unless `extraYaml` turns them off.
 */
export function writeBenchConfig(
  dir: string,
  mockPort: number,
  opts: { shipped: boolean; extraYaml?: string; upstreamYaml?: string },
) {
  if (opts.shipped) {
    writeFileSync(
      join(dir, 'prices.yaml'),
      'currency: USD\nbooks:\n  - { id: b, effectiveFrom: 2020-01-01T00:00:00Z, prices: [{ model: gpt-4o-mini, inputUncached: "0.15", inputCached: "0.075", output: "0.60" }] }\n',
    );
    writeFileSync(
      join(dir, 'agreement.yaml'),
      'id: bench\ntitle: bench\nparties: [{ id: op, name: Op }, { id: partner, name: Partner }]\nversions:\n  - id: v1\n    kind: original\n    validFrom: 2020-01-01T00:00:00Z\n    recordedAt: 2020-01-01T00:00:00Z\n    terms:\n      scope: { models: ["*"] }\n      cloud: { primary: bench }\n      revenueShares: [{ id: s, payer: op, payee: partner, rate: "20/100", revenueBase: { seller: op }, term: { from: 2020-01-01T00:00:00Z }, cap: { amount: "1000000", currency: USD }, milestoneIndependent: true }]\n',
    );
  }
  const cfg = join(dir, 'bench.yaml');
  writeFileSync(
    cfg,
    `dataDir: ${dir}
server: { port: 0 }
routing: { primaryCloud: bench }
upstreams:
  - ${opts.upstreamYaml ?? `{ id: mock, provider: openai, cloud: bench, baseUrl: "http://127.0.0.1:${mockPort}/v1", auth: { apiKey: k } }`}
models:
  - name: gpt-4o-mini
    deployments: [{ upstream: mock, deployment: gpt-4o-mini, modelVersion: "1" }]
tenants:
  - id: bench
    keys: [{ id: bench, sha256: ${createHash('sha256').update('sk-bench').digest('hex')} }]
${opts.shipped ? 'agreement: { file: agreement.yaml }\nledger: { priceBooks: prices.yaml, owner: op, intervalMs: 500 }\n' : ''}${opts.extraYaml ?? ''}
`,
  );
  return cfg;
}

/** Starts `entente serve` (the program at `bin`) on core 0; resolves with its API URL and pid. */
export async function startEntente(bin: string, cfg: string): Promise<{ proc: ChildProcess; url: string }> {
  const g = await start(
    0,
    process.execPath,
    [...SERVE_NODE_FLAGS, bin, 'serve', '--config', cfg],
    /API at http:\/\/[\d.:]+\/v1/,
    {
      ...process.env,
      ENTENTE_LOG_LEVEL: 'info',
    },
  );
  return { proc: g.proc, url: `${/API at (http:\/\/[\d.:]+)\/v1/.exec(g.out)![1]}/v1/chat/completions` };
}

/** The chat request every load generator sends (streamed or not). */
export const benchBody = (stream: boolean): string =>
  JSON.stringify({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'Say something short.' }],
    ...(stream ? { stream: true } : {}),
  });

/** A wrk Lua script (its path) that POSTs benchBody with the bench key and `headers`. */
export function wrkScript(stream: boolean, headers: Record<string, string> = {}): string {
  const lua = join(mkdtempSync(join(tmpdir(), 'wrk-')), 'post.lua');
  writeFileSync(
    lua,
    `wrk.method = "POST"\nwrk.body = ${JSON.stringify(benchBody(stream))}\n${Object.entries({
      'content-type': 'application/json',
      authorization: 'Bearer sk-bench',
      ...headers,
    })
      .map(([k, v]) => `wrk.headers["${k}"] = "${v}"`)
      .join('\n')}\n`,
  );
  return lua;
}

/** The calling thread's CPU time so far, in ms (10 ms ticks, from /proc). */
export function threadCpuMs(): number {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

/**
 * Runs `run` with a 1 ms timer ticking on the calling thread: how long it took, the calling
 * thread's CPU meanwhile, and the longest gap between the timer's ticks (the stall a request on
 * that thread would have waited).
 */
export async function stallWhile(
  run: () => Promise<unknown>,
): Promise<{ ms: number; cpuMs: number; stallMs: number }> {
  let last = performance.now();
  let stallMs = 0;
  const probe = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last);
    last = now;
  }, 1);
  await new Promise((r) => setTimeout(r, 20)); // the probe is ticking
  const t0 = performance.now();
  const c0 = threadCpuMs();
  last = t0;
  await run();
  const ms = performance.now() - t0;
  const cpuMs = threadCpuMs() - c0;
  stallMs = Math.max(stallMs, performance.now() - last);
  clearInterval(probe);
  return { ms, cpuMs, stallMs };
}

/** Installs @portkey-ai/gateway 1.15.2 into bench/.portkey on first use; its server's entry file. */
export async function ensurePortkey(): Promise<string> {
  const dir = join(root, 'bench/.portkey');
  const entry = join(dir, 'node_modules/@portkey-ai/gateway/build/start-server.js');
  if (!existsSync(entry)) {
    mkdirSync(dir, { recursive: true });
    // Pinned: newer hono / @hono/node-server break Portkey 1.15.2's streaming.
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify(
        {
          name: 'portkey-bench',
          private: true,
          dependencies: { '@portkey-ai/gateway': '1.15.2' },
          overrides: { hono: '4.9.7', '@hono/node-server': '1.13.5' },
        },
        null,
        2,
      ),
    );
    execFileSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: dir, stdio: 'inherit' });
  }
  return entry;
}

/** How the benchmarks run Portkey in front of the mock: its arguments (after node's), readiness, URL and headers. */
export interface PortkeyTarget {
  readonly args: string[];
  readonly ready: RegExp;
  readonly url: string;
  readonly headers: Record<string, string>;
}

/** Portkey on `port`, routed to the mock on `mockPort` (installed on first use). */
export async function portkeyTarget(port: number, mockPort: number): Promise<PortkeyTarget> {
  return {
    args: [await ensurePortkey(), `--port=${port}`, '--headless'],
    ready: /Ready for connections/,
    url: `http://127.0.0.1:${port}/v1/chat/completions`,
    headers: { 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `http://127.0.0.1:${mockPort}/v1` },
  };
}

/** node's arguments for one open-loop run of bench/fixed-rate.ts (run it with FIXED_RATE_ENV). */
export function fixedRateArgs(
  url: string,
  perSecond: number,
  seconds: number,
  stream: boolean,
  headers: Record<string, string>,
): string[] {
  return [
    join(root, 'dist/bench/fixed-rate.js'),
    url,
    String(perSecond),
    String(seconds),
    stream ? 'stream' : 'json',
    JSON.stringify(headers),
  ];
}

/** The environment that makes bench/fixed-rate.ts print every sample (FixedRateSamples). */
export const FIXED_RATE_ENV: NodeJS.ProcessEnv = { ...process.env, FIXED_RATE_SAMPLES: '1' };

/** What bench/fixed-rate.ts prints with FIXED_RATE_SAMPLES=1: failures, and each answer's latencies (µs). */
export interface FixedRateSamples {
  readonly errors: number;
  readonly totalUs: number[];
  readonly firstUs: number[];
}
