// What a change costs the data plane: this build beside a baseline build of another commit, in
// one run, on the config users run (agreement, ledger with a capped revenue share, metrics and
// the access log on). The baseline is checked out into a git worktree (in the temp folder) and
// built there. Three
// `entente serve` processes on core 0 (baseline, current, and current again, whose spread from
// current is the machine's noise floor); the same fixed batches of JSON and streamed requests to
// each in turn (autocannon on core 1), rotating who goes first, several rounds. Reported: medians
// of CPU time per request (from /proc) and requests/s, current / baseline, beside the noise floor.
//
//   npm run bench:commits                       baseline = HEAD~1
//   BENCH_BASELINE=763de60 BENCH_ROUNDS=6 BENCH_REQUESTS=10000 npm run bench:commits
import { type ChildProcess, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, symlinkSync } from 'node:fs';
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

const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const requests = Number(process.env.BENCH_REQUESTS ?? 8_000);
const git = (...args: string[]) => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8' }).trim();
const baseline = git('rev-parse', '--short', process.env.BENCH_BASELINE ?? 'HEAD~1');

/** A built checkout of the baseline commit (a git worktree in the temp folder, kept between runs). */
function baselineBuild(): string {
  const dir = join(tmpdir(), `entente-baseline-${baseline}`);
  if (!existsSync(join(dir, 'bin/entente.js'))) git('worktree', 'add', '--force', '--detach', dir, baseline);
  if (!existsSync(join(dir, 'node_modules')))
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  process.stderr.write(`bench: building ${baseline} in ${dir}…\n`);
  execFileSync(
    process.execPath,
    [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')],
    {
      stdio: 'inherit',
    },
  );
  return join(dir, 'bin/entente.js');
}

interface Target {
  readonly name: string;
  readonly url: string;
  readonly pid: number;
  readonly cpuUs: Record<'json' | 'stream', number[]>;
  readonly rps: Record<'json' | 'stream', number[]>;
}

const baselineBin = baselineBuild();
const mock = await start(1, process.execPath, [join(root, 'dist/bench/mock-upstream.js')], /"port":\d+/);
const mockPort = Number(/"port":(\d+)/.exec(mock.out)![1]);
const procs: ChildProcess[] = [mock.proc];
try {
  const targets: Target[] = [];
  for (const [name, bin] of [
    ['current-again', join(root, 'bin/entente.js')],
    [`baseline ${baseline}`, baselineBin],
    ['current', join(root, 'bin/entente.js')],
  ] as const) {
    const cfg = writeBenchConfig(mkdtempSync(join(tmpdir(), 'entente-commit-bench-')), mockPort, {
      shipped: true,
    });
    const g = await startEntente(bin, cfg);
    procs.push(g.proc);
    await fixedBatch(g.url, requests); // warm up
    await fixedBatch(g.url, requests, true);
    targets.push({
      name,
      url: g.url,
      pid: g.proc.pid!,
      cpuUs: { json: [], stream: [] },
      rps: { json: [], stream: [] },
    });
  }
  for (let r = 0; r < rounds; r++)
    for (const mode of ['json', 'stream'] as const)
      for (const t of [...targets.slice(r % targets.length), ...targets.slice(0, r % targets.length)]) {
        const before = cpuTicks(t.pid);
        t.rps[mode].push(await fixedBatch(t.url, requests, mode === 'stream'));
        t.cpuUs[mode].push(((cpuTicks(t.pid) - before) * 10_000) / requests);
      }
  const [again, base, cur] = targets as [Target, Target, Target];
  const ratio = (a: number[], b: number[]) => (median(a) / median(b)).toFixed(3);
  const lines = [
    `# This build against ${baseline} (${rounds} rounds × ${requests} requests per mode, shipped config, gateway pinned: ${canPin})`,
    '',
    '| build | mode | CPU µs / request (median) | req/s (median) | rounds, CPU µs |',
    '|---|---|---|---|---|',
    ...(['json', 'stream'] as const).flatMap((mode) =>
      targets.map(
        (t) =>
          `| ${t.name} | ${mode} | ${median(t.cpuUs[mode]).toFixed(0)} | ${median(t.rps[mode]).toFixed(0)} | ${t.cpuUs[mode].map((x) => x.toFixed(0)).join(', ')} |`,
      ),
    ),
    '',
    ...(['json', 'stream'] as const).flatMap((mode) => [
      `${mode}: current / baseline: CPU per request ×${ratio(cur.cpuUs[mode], base.cpuUs[mode])}, throughput ×${ratio(cur.rps[mode], base.rps[mode])}; noise floor (current-again / current): CPU ×${ratio(again.cpuUs[mode], cur.cpuUs[mode])}, throughput ×${ratio(again.rps[mode], cur.rps[mode])}`,
    ]),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  for (const p of procs) p.kill('SIGTERM');
}
