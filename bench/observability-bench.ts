// What metrics and the access log cost the data plane, measured side by side in one run: two
// Entente processes on core 0, one as shipped (Prometheus metrics, a JSON access log line per
// request at level info) and one with both off; the same fixed batches of requests sent to each
// in turn (autocannon on core 1), several rounds; CPU time per request from /proc and
// requests/s per batch. Reported as ratios (on / off).
//
//   npm run bench:observability          BENCH_ROUNDS=5 BENCH_REQUESTS=20000
//   BENCH_COMPARE=shipped npm run bench:observability   as shipped (agreement, ledger) against plain
//   BENCH_STREAM=1 …                                     streamed requests instead of JSON
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  canPin,
  cpuTicks,
  fixedBatch,
  median,
  root,
  start,
  startEntente,
  writeBenchConfig,
} from './processes.js';

const rounds = Number(process.env.BENCH_ROUNDS ?? 4);
const requests = Number(process.env.BENCH_REQUESTS ?? 15_000);
const shippedCompare = process.env.BENCH_COMPARE === 'shipped';
const stream = process.env.BENCH_STREAM === '1';

const mock = await start(1, process.execPath, [join(root, 'dist/bench/mock-upstream.js')], /"port":\d+/);
const mockPort = Number(/"port":(\d+)/.exec(mock.out)![1]);
const procs: ChildProcess[] = [mock.proc];
try {
  const targets: { name: string; url: string; pid: number; cpuUs: number[]; rps: number[] }[] = [];
  // `off-again` is a second, identical `off` process: the spread between the two is this
  // machine's noise floor, against which on / off must be read.
  for (const name of ['off-again', 'on', 'off']) {
    const dir = mkdtempSync(join(tmpdir(), 'entente-obs-bench-'));
    const off = process.env.BENCH_OFF_YAML ?? 'observability: { metrics: false, accessLog: false }';
    const cfg = shippedCompare
      ? writeBenchConfig(dir, mockPort, { shipped: name === 'on' })
      : writeBenchConfig(dir, mockPort, {
          shipped: false,
          extraYaml: name !== 'on' ? off : (process.env.BENCH_ON_YAML ?? ''),
        });
    const g = await startEntente(join(root, 'bin/entente.js'), cfg);
    procs.push(g.proc);
    await fixedBatch(g.url, requests, stream); // warm up
    targets.push({ name, url: g.url, pid: g.proc.pid!, cpuUs: [], rps: [] });
  }
  for (let r = 0; r < rounds; r++) {
    // Rotate who goes first each round.
    for (const t of [...targets.slice(r % targets.length), ...targets.slice(0, r % targets.length)]) {
      const before = cpuTicks(t.pid);
      t.rps.push(await fixedBatch(t.url, requests, stream));
      t.cpuUs.push(((cpuTicks(t.pid) - before) * 10_000) / requests);
    }
  }
  const [again, on, off] = targets as [(typeof targets)[0], (typeof targets)[0], (typeof targets)[0]];
  const lines = [
    shippedCompare
      ? `# As shipped (agreement, ledger) against plain, metrics and logs on in both (${rounds} rounds × ${requests} ${stream ? 'streamed' : 'JSON'} requests, gateway pinned: ${canPin})`
      : `# Metrics and access log: on against off (${rounds} rounds × ${requests} ${stream ? 'streamed' : 'JSON'} requests, gateway pinned: ${canPin})`,
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
