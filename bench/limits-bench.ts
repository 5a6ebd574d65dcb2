// What limits cost the data plane, side by side in one run: three Entente processes as users run
// them (agreement, ledger, metrics and access log on), on core 0 in turn, the same fixed batches
// of requests to each (autocannon on core 1), several rounds:
//   off    no limit rule;
//   local  a requests/min, tokens/min, in-flight and monthly budget rule on the tenant, counted in
//          process (one node);
//   redis  the same rules counted in Redis, as a fleet node does (one Lua call to reserve, one to
//          settle).
// Reports CPU µs per request from /proc, requests/s, and the Redis calls per request read from
// the node's own metrics (calls issued in the same tick share one round trip: auto-pipelining). The rules are set high enough never to refuse: the cost measured
// is that of counting, not of refusing.
//
//   npm run bench:limits            BENCH_ROUNDS=4 BENCH_REQUESTS=15000
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
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
const redisUrl = process.env.ENTENTE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const RULES = `limits:
  rules:
    - id: bench-tenant
      scope: { tenant: bench }
      requestsPerMinute: 100000000
      tokensPerMinute: 1000000000000
      concurrentRequests: 100000
      budget: { amount: "1000000000", period: month }`;

async function roundTrips(url: string): Promise<number> {
  const text = await (await fetch(url.replace('/v1/chat/completions', '/metrics'))).text();
  let n = 0;
  for (const m of text.matchAll(/^entente_limiter_redis_round_trips_total\{[^}]*\} (\d+)$/gm))
    n += Number(m[1]);
  return n;
}

const mock = await start(1, process.execPath, [join(root, 'dist/bench/mock-upstream.js')], /"port":\d+/);
const mockPort = Number(/"port":(\d+)/.exec(mock.out)![1]);
const procs: ChildProcess[] = [mock.proc];
try {
  const targets: {
    name: string;
    url: string;
    pid: number;
    cpuUs: number[];
    rps: number[];
    trips: number[];
  }[] = [];
  const setups: [string, string][] = [
    ['off', ''],
    ['local', RULES],
    [
      'redis',
      `${RULES}\ncluster: { redisUrl: "${redisUrl}", namespace: bench-${randomBytes(4).toString('hex')} }`,
    ],
  ];
  for (const [name, yaml] of setups) {
    const dir = mkdtempSync(join(tmpdir(), 'entente-limits-bench-'));
    const g = await startEntente(
      join(root, 'bin/entente.js'),
      writeBenchConfig(dir, mockPort, { shipped: true, extraYaml: yaml }),
    );
    procs.push(g.proc);
    await fixedBatch(g.url, requests); // warm up
    targets.push({ name, url: g.url, pid: g.proc.pid!, cpuUs: [], rps: [], trips: [] });
  }
  for (let r = 0; r < rounds; r++) {
    for (const t of [...targets.slice(r % targets.length), ...targets.slice(0, r % targets.length)]) {
      const [cpu0, trips0] = [cpuTicks(t.pid), await roundTrips(t.url)];
      t.rps.push(await fixedBatch(t.url, requests));
      t.cpuUs.push(((cpuTicks(t.pid) - cpu0) * 10_000) / requests);
      t.trips.push(((await roundTrips(t.url)) - trips0) / requests);
    }
  }
  const off = targets[0]!;
  const lines = [
    `# Limits: off, in process, in Redis (${rounds} rounds × ${requests} JSON requests, as shipped: agreement, ledger, metrics, access log; gateway pinned: ${canPin})`,
    '',
    '| limits | CPU µs / request (median) | added CPU µs | req/s (median) | throughput vs off | Redis calls / request |',
    '|---|---|---|---|---|---|',
    ...targets.map(
      (t) =>
        `| ${t.name} | ${median(t.cpuUs).toFixed(0)} | ${(median(t.cpuUs) - median(off.cpuUs)).toFixed(0)} | ${median(t.rps).toFixed(0)} | ×${(median(t.rps) / median(off.rps)).toFixed(3)} | ${median(t.trips).toFixed(2)} |`,
    ),
    '',
    `Rounds, CPU µs per request: ${targets.map((t) => `${t.name} ${t.cpuUs.map((x) => x.toFixed(0)).join(', ')}`).join('; ')}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  for (const p of procs) p.kill('SIGTERM');
}
