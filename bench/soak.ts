// The soak: Entente as shipped (agreement, ledger, metrics, logs) at a fixed rate for a long time,
// half JSON and half streamed, reporting every interval the gateway's RSS, its event-loop delay
// p99 (from /metrics) and the load's latency, then the growth of RSS from the first interval to
// the last. A leak shows as RSS that keeps climbing; a stall as event-loop delay that does.
//
//   npm run soak                    SOAK_SECONDS=3600 SOAK_RATE=200 SOAK_INTERVAL_S=60 (defaults)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root, scrapeServing, start, startEntente, writeBenchConfig } from './processes.js';

const seconds = Number(process.env.SOAK_SECONDS ?? 3_600);
const rate = Number(process.env.SOAK_RATE ?? 200);
const intervalS = Number(process.env.SOAK_INTERVAL_S ?? 60);

const rssMb = (pid: number) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

function fixedRate(url: string, r: number, s: number, stream: boolean) {
  return new Promise<{ p50Us: number; p99Us: number; errors: number; requests: number }>(
    (resolve, reject) => {
      const p = spawn(
        process.execPath,
        [join(root, 'dist/bench/fixed-rate.js'), url, String(r), String(s), stream ? 'stream' : 'json', '{}'],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      let out = '';
      p.stdout.on('data', (d) => {
        out += d;
      });
      p.once('exit', (code) =>
        code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`fixed-rate exited ${code}`)),
      );
    },
  );
}

const mock = await start(1, process.execPath, [join(root, 'dist/bench/mock-upstream.js')], /"port":\d+/);
const mockPort = Number(/"port":(\d+)/.exec(mock.out)![1]);
const g = await startEntente(
  join(root, 'bin/entente.js'),
  writeBenchConfig(mkdtempSync(join(tmpdir(), 'entente-soak-')), mockPort, { shipped: true }),
);
const rows: string[] = [];
const rss: number[] = [];
try {
  await scrapeServing(g.url); // resets the loop-delay window
  for (let t = 0; t < seconds; t += intervalS) {
    const [json, stream] = await Promise.all([
      fixedRate(g.url, rate / 2, intervalS, false),
      fixedRate(g.url, rate / 2, intervalS, true),
    ]);
    const { loopP99Ms } = await scrapeServing(g.url);
    const mb = rssMb(g.proc.pid!);
    rss.push(mb);
    rows.push(
      `| ${t + intervalS} | ${mb.toFixed(1)} | ${Number.isNaN(loopP99Ms) ? '—' : loopP99Ms.toFixed(2)} | ${(json.p99Us / 1000).toFixed(2)} | ${(stream.p99Us / 1000).toFixed(2)} | ${json.errors + stream.errors} |`,
    );
    process.stderr.write(`${rows.at(-1)}\n`);
  }
} finally {
  g.proc.kill('SIGTERM');
  mock.proc.kill('SIGTERM');
}
process.stdout.write(
  `${[
    `# Soak: as shipped, ${rate} req/s (half streamed) for ${seconds} s`,
    '',
    '| t (s) | RSS MB | loop delay p99 ms | JSON p99 ms | stream p99 ms | errors |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    `RSS last / first interval: ×${(rss.at(-1)! / rss[0]!).toFixed(3)} (${rss[0]!.toFixed(1)} → ${rss.at(-1)!.toFixed(1)} MB)`,
  ].join('\n')}\n`,
);
