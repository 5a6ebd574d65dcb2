// Three nodes against one node, through the same HAProxy config (examples/cluster/haproxy.cfg),
// on one PostgreSQL and one Redis, in the same run: the same request mix (JSON, streams,
// embeddings) at the same concurrency, no faults, no kills. Reports requests per second and the
// ratio. On a 2-core machine the nodes, the simulators, HAProxy, PostgreSQL and the load share the
// cores, so the ratio shows the fleet's overhead more than its scaling.
//   npm run bench:fleet        FLEET_REQUESTS=3000 FLEET_CONCURRENCY=64 FLEET_ROUNDS=2
import { fleetRun } from '../test/helpers/fleet-run.js';

const requests = Number(process.env.FLEET_REQUESTS ?? 3_000);
const concurrency = Number(process.env.FLEET_CONCURRENCY ?? 64);
const rounds = Number(process.env.FLEET_ROUNDS ?? 2);
const pgUrl = process.env.ENTENTE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const redisUrl = process.env.ENTENTE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const rows: string[] = [];
for (let r = 1; r <= rounds; r++) {
  // Alternate the order so neither setup always runs on a warmer machine.
  const order = r % 2 ? ([1, 3] as const) : ([3, 1] as const);
  const got: Record<number, number> = {};
  for (const nodes of order) {
    const rep = await fleetRun({ nodes, chaos: false, requests, concurrency, seed: r, pgUrl, redisUrl });
    if (rep.lost.length || rep.doubled.length)
      throw new Error(`round ${r}, ${nodes} nodes: lost or doubled records`);
    got[nodes] = rep.throughputPerS;
  }
  rows.push(`| ${r} | ${got[1]} | ${got[3]} | ×${(got[3]! / got[1]!).toFixed(2)} |`);
}
process.stdout.write(
  `# One node against three, behind the same HAProxy (${requests} requests, concurrency ${concurrency})\n\n| round | 1 node req/s | 3 nodes req/s | 3 / 1 |\n|---|---|---|---|\n${rows.join('\n')}\n`,
);
