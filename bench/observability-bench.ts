// What metrics and the access log cost the data plane, measured side by side in one run: two
// Entente processes on core 0, one as shipped (Prometheus metrics, a JSON access log line per
// request at level info) and one with both off; the same fixed batches of requests sent to each
// in turn (autocannon on core 1), several rounds; CPU time per request from /proc and
// requests/s per batch. Reported as ratios (on / off).
//
//   npm run bench:observability          BENCH_ROUNDS=5 BENCH_REQUESTS=20000
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const rounds = Number(process.env.BENCH_ROUNDS ?? 4);
const requests = Number(process.env.BENCH_REQUESTS ?? 15_000);
const canPin = (() => {
  try {
    execFileSync('taskset', ['-c', '0', 'true']);
    return true;
  } catch {
    return false;
  }
})();
const pinned = (core: number, cmd: string, args: string[]): [string, string[]] =>
  canPin ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args];

function start(core: number, args: string[], ready: RegExp, env: NodeJS.ProcessEnv = process.env) {
  const [c, a] = pinned(core, process.execPath, args);
  const proc = spawn(c, a, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise<{ proc: ChildProcess; out: string }>((resolve, reject) => {
    let out = '';
    let started = false;
    const onData = (d: Buffer) => {
      if (started) return; // drain the access log, do not keep it
      out += d.toString();
      if (ready.test(out)) {
        started = true;
        resolve({ proc, out });
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
}

const cpuTicks = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(f[11]) + Number(f[12]);
};

function load(url: string): Promise<number> {
  const body = JSON.stringify({
    model: 'gpt-4o-mini',
    messages: [{ role: 'user', content: 'Say something short.' }],
  });
  const [c, a] = pinned(1, process.execPath, [
    join(root, 'node_modules/autocannon/autocannon.js'),
    '-c',
    '32',
    '-a',
    String(requests),
    '-m',
    'POST',
    '-j',
    '-H',
    'content-type: application/json',
    '-H',
    'authorization: Bearer sk-bench',
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

const mock = await start(1, [join(root, 'dist/bench/mock-upstream.js')], /"port":\d+/);
const mockPort = Number(/"port":(\d+)/.exec(mock.out)![1]);
const procs: ChildProcess[] = [mock.proc];
try {
  const targets: { name: string; url: string; pid: number; cpuUs: number[]; rps: number[] }[] = [];
  // `off-again` is a second, identical `off` process: the spread between the two is this
  // machine's noise floor, against which on / off must be read.
  for (const name of ['off-again', 'on', 'off']) {
    const dir = mkdtempSync(join(tmpdir(), 'entente-obs-bench-'));
    const cfg = join(dir, 'bench.yaml');
    writeFileSync(
      cfg,
      `dataDir: ${dir}
server: { port: 0 }
routing: { primaryCloud: bench }
upstreams:
  - { id: mock, provider: openai, cloud: bench, baseUrl: "http://127.0.0.1:${mockPort}/v1", auth: { apiKey: k } }
models:
  - name: gpt-4o-mini
    deployments: [{ upstream: mock, deployment: gpt-4o-mini, modelVersion: "1" }]
tenants:
  - id: bench
    keys: [{ id: bench, sha256: ${createHash('sha256').update('sk-bench').digest('hex')} }]
${name !== 'on' ? (process.env.BENCH_OFF_YAML ?? 'observability: { metrics: false, accessLog: false }') : (process.env.BENCH_ON_YAML ?? '')}
`,
    );
    const g = await start(
      0,
      [join(root, 'bin/entente.js'), 'serve', '--config', cfg],
      /API at http:\/\/[\d.:]+\/v1/,
      {
        ...process.env,
        ENTENTE_LOG_LEVEL: 'info',
      },
    );
    procs.push(g.proc);
    const url = `${/API at (http:\/\/[\d.:]+)\/v1/.exec(g.out)![1]}/v1/chat/completions`;
    await load(url); // warm up
    targets.push({ name, url, pid: g.proc.pid!, cpuUs: [], rps: [] });
  }
  for (let r = 0; r < rounds; r++) {
    // Rotate who goes first each round.
    for (const t of [...targets.slice(r % targets.length), ...targets.slice(0, r % targets.length)]) {
      const before = cpuTicks(t.pid);
      t.rps.push(await load(t.url));
      t.cpuUs.push(((cpuTicks(t.pid) - before) * 10_000) / requests);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const [again, on, off] = targets as [(typeof targets)[0], (typeof targets)[0], (typeof targets)[0]];
  const lines = [
    `# Metrics and access log: on against off (${rounds} rounds × ${requests} requests, gateway pinned: ${canPin})`,
    '',
    '| Entente observability | CPU µs / request (median) | req/s (median) | rounds, CPU µs |',
    '|---|---|---|---|',
    ...targets.map(
      (t) =>
        `| ${t.name} | ${median(t.cpuUs).toFixed(0)} | ${median(t.rps).toFixed(0)} | ${t.cpuUs.map((x) => x.toFixed(0)).join(', ')} |`,
    ),
    '',
    `On / off: CPU per request ×${(median(on.cpuUs) / median(off.cpuUs)).toFixed(3)}, throughput ×${(median(on.rps) / median(off.rps)).toFixed(3)}`,
    `Noise floor (off-again / off, identical configs): CPU per request ×${(median(again.cpuUs) / median(off.cpuUs)).toFixed(3)}, throughput ×${(median(again.rps) / median(off.rps)).toFixed(3)}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  for (const p of procs) p.kill('SIGTERM');
}
