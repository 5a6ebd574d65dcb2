// Two `entente serve` processes measured in paired rounds, for effects smaller than this VM's
// drift: both pinned to core 0, the mock upstream and wrk on core 1; each round measures A and B
// back to back (the other process stopped with SIGSTOP), in alternating order; reported are the
// medians of the rounds' ratios B / A, with their range, and each side's CPU per request by thread
// (serving thread, the spool writer, the rest: V8's helpers and libuv's pool), from /proc.
//
//   PAIRED_A='{"config":"plain"}' PAIRED_B='{"config":"shipped"}' npm run bench:paired
//
// A side is JSON: `config` "plain" or "shipped" (bench/processes.ts writeBenchConfig), or
// "portkey" (@portkey-ai/gateway 1.15.2, as `npm run bench` runs it; no other field applies), and
// optionally `yaml` (config lines appended), `node` (node flags; default SERVE_NODE_FLAGS), `env`
// (environment variables), `bin` (another build's bin/entente.js). PAIRED_ROUNDS (12),
// PAIRED_SECONDS (2 per run), PAIRED_MODE (json or stream). The method's own noise, a build
// against itself: medians within about ±10% of ×1 (bench/README.md).
//
// PAIRED_RATE=100 (requests/s) measures latency instead of throughput: each run is an open-loop
// load at that rate (bench/fixed-rate.ts) and the report gives B − A at p50 and p99 of every
// run's samples pooled by side, beside the median of the rounds' own differences, and each
// side's event-loop delay p99. One run of 8 s at 100/s has 800 samples, so its p99 is its 8th
// worst and moves by milliseconds from run to run; pooled over 12 rounds it is the 120th.
import { type ChildProcess, execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FIXED_RATE_ENV,
  type FixedRateSamples,
  fixedRateArgs,
  median,
  percentile,
  pinned,
  portkeyTarget,
  root,
  SERVE_NODE_FLAGS,
  scrapeServing,
  start,
  type ThreadCpu,
  threadCpu,
  threadTicks,
  writeBenchConfig,
  wrkScript,
} from './processes.js';

interface Side {
  readonly config: 'plain' | 'shipped' | 'portkey';
  readonly yaml?: string;
  readonly node?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  readonly bin?: string;
}

const sideOf = (name: string, fallback: Side): Side => {
  const text = process.env[name];
  return text ? (JSON.parse(text) as Side) : fallback;
};
const a = sideOf('PAIRED_A', { config: 'plain' });
const b = sideOf('PAIRED_B', { config: 'shipped' });
const rounds = Number(process.env.PAIRED_ROUNDS ?? 12);
const seconds = Number(process.env.PAIRED_SECONDS ?? 2);
const stream = process.env.PAIRED_MODE === 'stream';
const rate = process.env.PAIRED_RATE ? Number(process.env.PAIRED_RATE) : null;

/** wrk's throughput and its latency p99 (ms). */
function wrk(url: string, headers: Record<string, string>): { rps: number; p99Ms: number } {
  const lua = wrkScript(stream, headers);
  const [c, args] = pinned(1, 'wrk', ['-t1', '-c64', `-d${seconds}s`, '--latency', '-s', lua, url]);
  const out = execFileSync(c, args).toString();
  if (/Non-2xx/.test(out)) throw new Error(`failed responses from ${url}:\n${out}`);
  const p99 = /\s99%\s+([\d.]+)(us|ms|s)\b/.exec(out);
  const scale = { us: 0.001, ms: 1, s: 1000 } as const;
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]),
    p99Ms: p99 ? Number(p99[1]) * scale[p99[2] as keyof typeof scale] : Number.NaN,
  };
}

/** An open-loop run at `rate` requests/s: every request's full-response latency (µs). */
function fixedRate(url: string, headers: Record<string, string>, perSecond: number): number[] {
  const [c, args] = pinned(1, process.execPath, fixedRateArgs(url, perSecond, seconds, stream, headers));
  const out = JSON.parse(
    execFileSync(c, args, { env: FIXED_RATE_ENV, maxBuffer: 64 << 20 }).toString(),
  ) as FixedRateSamples;
  if (out.errors) throw new Error(`${out.errors} failed requests at ${perSecond}/s from ${url}`);
  return out.totalUs;
}

const mock = await start(1, process.execPath, [join(root, 'dist/bench/mock-upstream.js')], /"port":\d+/);
const mockPort = Number(/"port":(\d+)/.exec(mock.out)![1]);

interface Launched {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly url: string;
  readonly headers: Record<string, string>;
  /** Entente: its /metrics gives the loop delay and the writer's backlog. */
  readonly entente: boolean;
}

async function launch(s: Side): Promise<Launched> {
  if (s.config === 'portkey') {
    const pk = await portkeyTarget(18787, mockPort);
    const p = await start(0, process.execPath, pk.args, pk.ready);
    return { proc: p.proc, pid: p.proc.pid!, url: pk.url, headers: pk.headers, entente: false };
  }
  const cfg = writeBenchConfig(mkdtempSync(join(tmpdir(), 'entente-paired-')), mockPort, {
    shipped: s.config === 'shipped',
    ...(s.yaml ? { extraYaml: s.yaml } : {}),
  });
  const g = await start(
    0,
    process.execPath,
    [...(s.node ?? SERVE_NODE_FLAGS), s.bin ?? join(root, 'bin/entente.js'), 'serve', '--config', cfg],
    /API at http:\/\/[\d.:]+\/v1/,
    { ...process.env, ENTENTE_LOG_LEVEL: 'info', ...s.env },
  );
  const url = `${/API at (http:\/\/[\d.:]+)\/v1/.exec(g.out)![1]}/v1/chat/completions`;
  return { proc: g.proc, pid: g.proc.pid!, url, headers: {}, entente: true };
}

type Run = ThreadCpu & { rps: number; p99Ms: number; loopMs: number; backlog: number; samplesUs: number[] };
const sides = [await launch(a), await launch(b)] as const;
const runs: [Run[], Run[]] = [[], []];
const pause = () => new Promise((r) => setTimeout(r, 300));

async function measure(i: 0 | 1): Promise<Run> {
  const s = sides[i];
  process.kill(sides[1 - i]!.pid, 'SIGSTOP');
  process.kill(s.pid, 'SIGCONT');
  await pause();
  // Portkey has no /metrics: its loop delay and backlog read NaN.
  const scrape = () =>
    s.entente ? scrapeServing(s.url) : Promise.resolve({ loopP99Ms: Number.NaN, backlog: Number.NaN });
  await scrape();
  const before = threadTicks(s.pid);
  const samplesUs = rate === null ? [] : fixedRate(s.url, s.headers, rate);
  const { rps, p99Ms } =
    rate === null
      ? wrk(s.url, s.headers)
      : { rps: samplesUs.length / seconds, p99Ms: percentile(samplesUs, 99) / 1000 };
  const after = threadTicks(s.pid);
  // The backlog as the load ends: a writer that kept up holds about one batch.
  const { loopP99Ms: loopMs, backlog } = await scrape();
  await pause(); // what is in flight finishes before the process is stopped
  return { rps, p99Ms, loopMs, backlog, samplesUs, ...threadCpu(s.pid, before, after, rps * seconds) };
}

try {
  await measure(0); // warm-up, unmeasured
  await measure(1);
  for (let r = 0; r < rounds; r++) {
    const order: (0 | 1)[] = r % 2 === 0 ? [0, 1] : [1, 0];
    for (const i of order) runs[i].push(await measure(i));
    process.stderr.write(`paired: round ${r + 1}/${rounds}\n`);
  }
} finally {
  for (const s of sides) {
    s.proc.kill('SIGCONT');
    s.proc.kill('SIGTERM');
  }
  mock.proc.kill('SIGTERM');
}

/** The latency report of a PAIRED_RATE run: pooled percentiles by side and B − A. */
function latencyLines(): string[] {
  const pooled = runs.map((rs) => rs.flatMap((x) => x.samplesUs));
  const at = (p: number) => pooled.map((xs) => percentile(xs, p) / 1000);
  const diff = (p: number) =>
    runs[1].map((x, i) => (percentile(x.samplesUs, p) - percentile(runs[0][i]!.samplesUs, p)) / 1000);
  const line = (p: number) => {
    const [pa, pb] = at(p);
    const d = diff(p);
    return `- p${p}, all samples pooled: A ${pa!.toFixed(2)} ms, B ${pb!.toFixed(2)} ms, B − A ${(pb! - pa!).toFixed(2)} ms; by round, B − A ${ms(d)}`;
  };
  return [
    `- samples: A ${pooled[0]!.length}, B ${pooled[1]!.length} at ${rate}/s`,
    line(50),
    line(99),
    `- p99 by round, A: ${runs[0].map((x) => x.p99Ms.toFixed(1)).join(', ')}`,
    `- p99 by round, B: ${runs[1].map((x) => x.p99Ms.toFixed(1)).join(', ')}`,
  ];
}

const total = (x: Run) => x.mainUs + x.writerUs + x.restUs;
const ratios = (f: (x: Run) => number) => runs[1].map((x, i) => f(x) / f(runs[0][i]!));
const summary = (xs: number[]) =>
  `×${median(xs).toFixed(3)} (×${Math.min(...xs).toFixed(2)}–×${Math.max(...xs).toFixed(2)})`;
const ms = (xs: number[]) =>
  `${median(xs).toFixed(2)} ms (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;
const perThread = (rs: Run[]) =>
  `${median(rs.map(total)).toFixed(1)} µs (serving thread ${median(rs.map((x) => x.mainUs)).toFixed(1)}, writer ${median(rs.map((x) => x.writerUs)).toFixed(1)}, rest ${median(rs.map((x) => x.restUs)).toFixed(1)})`;
process.stdout.write(
  [
    `# Paired rounds: ${rounds} × ${seconds} s, ${stream ? 'streams' : 'JSON'}, ${rate === null ? 'wrk -c64' : `open loop at ${rate}/s`}; A ${JSON.stringify(a)}, B ${JSON.stringify(b)}`,
    '',
    ...(rate === null ? [] : latencyLines()),
    `- requests/s, A: ${runs[0].map((x) => Math.round(x.rps)).join(', ')}`,
    `- requests/s, B: ${runs[1].map((x) => Math.round(x.rps)).join(', ')}`,
    `- B / A, throughput: ${summary(ratios((x) => x.rps))}; CPU per request: ${summary(ratios(total))}`,
    `- CPU per request, A: ${perThread(runs[0])}`,
    `- CPU per request, B: ${perThread(runs[1])}`,
    `- latency p99 (wrk), A: ${ms(runs[0].map((x) => x.p99Ms))}; B: ${ms(runs[1].map((x) => x.p99Ms))}`,
    `- event-loop delay p99, A: ${ms(runs[0].map((x) => x.loopMs))}; B: ${ms(runs[1].map((x) => x.loopMs))}`,
    `- records not yet stored as the load ends (the writer's backlog), A: ${runs[0].map((x) => x.backlog).join(', ')}; B: ${runs[1].map((x) => x.backlog).join(', ')}`,
    '',
  ].join('\n'),
);
