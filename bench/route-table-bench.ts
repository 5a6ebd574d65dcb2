// What the agreement costs a request: the route-table lookup (model entry + licence decision +
// deployment order) against a bare Map.get baseline, and how long a rebuild holds the event loop
// while traffic flows. Run: npm run build && node dist/bench/route-table-bench.js

import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { loadAgreement } from '../src/agreements/index.js';
import { CapacityPlan, orderForCapacity } from '../src/capacity/index.js';
import { systemClock } from '../src/clock/index.js';
import { parseConfigText } from '../src/config/index.js';
import { LocalLimiter } from '../src/limits/index.js';
import type { RolloutEvent } from '../src/rollout/index.js';
import { compileCatalog, compileRouteTable, orderDeployments } from '../src/routing/index.js';

const agreement = loadAgreement(fileURLToPath(new URL('../../examples/agreement.yaml', import.meta.url)));
const MODELS = Number(process.env.MODELS ?? 200);
const yaml = [
  'routing: { primaryCloud: azure }',
  'upstreams:',
  '  - { id: az1, provider: azure-openai, cloud: azure, region: eastus, baseUrl: "https://a", apiVersion: v }',
  '  - { id: az2, provider: azure-openai, cloud: azure, region: swedencentral, baseUrl: "https://b", apiVersion: v }',
  '  - { id: oai, provider: openai, cloud: openai, baseUrl: "https://c" }',
  '  - { id: brk, provider: openai, cloud: bedrock, baseUrl: "https://d" }',
  'models:',
  ...Array.from({ length: MODELS }, (_, i) =>
    [
      `  - name: m${i}`,
      '    deployments:',
      ...['az1', 'az2', 'oai', 'brk'].map(
        (u) => `      - { upstream: ${u}, deployment: d${i}, modelVersion: "v1" }`,
      ),
    ].join('\n'),
  ),
].join('\n');
const catalog = compileCatalog(parseConfigText(yaml, 'bench.yaml', {}));
const now = Date.parse('2026-06-01');
const log: RolloutEvent[] = Array.from({ length: MODELS }, (_, i) => ({
  kind: 'stage',
  model: `m${i}`,
  modelVersion: 'v1',
  cloud: 'azure',
  region: 'eastus',
  stage: 'ga',
  evidence: '',
  atMs: now - 1000,
  seq: i + 1,
}));

let t0 = performance.now();
const REBUILDS = 20;
let table = compileRouteTable(catalog, agreement, log, now, ['microsoft']);
for (let i = 1; i < REBUILDS; i++) table = compileRouteTable(catalog, agreement, log, now, ['microsoft']);
const rebuildMs = (performance.now() - t0) / REBUILDS;

const names = [...catalog.keys()];
const baseline = new Map(names.map((n) => [n, n.length]));
const N = 2_000_000;
let sink = 0;
// Baseline: one Map.get per request, the least any router does.
t0 = performance.now();
for (let i = 0; i < N; i++) sink += baseline.get(names[i % names.length]!)!;
const baseNs = ((performance.now() - t0) * 1e6) / N;
// Entente: the model entry, the licensee's licence decision, and the deployment order.
t0 = performance.now();
for (let i = 0; i < N; i++) {
  const name = names[i % names.length]!;
  const entry = table.models.get(name)!;
  const d = table.licence('microsoft', name);
  if (d?.allowed) sink += orderDeployments(entry, Math.random).length;
}
const lookupNs = ((performance.now() - t0) * 1e6) / N;

// Capacity on: the same lookup, then the order by pools and cost (every az1 deployment in a PTU
// pool), and the pool's reservation and settle on the in-process limiter (what a fleet does in one
// Redis call each instead).
const plan = new CapacityPlan({
  targetUtilization: 0.9,
  pools: [
    {
      id: 'ptu',
      deployments: names.map((_, i) => `az1/d${i}`),
      unit: 'ptu',
      size: 1e9,
      tokensPerMinutePerUnit: 1,
      term: { from: '2026-01-01T00:00:00Z' },
      cost: { fixedPerMonth: '1000' },
    },
  ],
});
const costs = new Map<string, bigint>([
  ['az2', 5n],
  ['oai', 3n],
  ['brk', 4n],
]);
const limiter = new LocalLimiter({ reservationTtlMs: 900_000 });
const pool = plan.byId('ptu')!;
// The deployment order alone, without and with capacity, on every model.
const entries = names.map((n) => table.models.get(n)!);
t0 = performance.now();
for (let i = 0; i < N; i++) sink += orderDeployments(entries[i % entries.length]!, Math.random).length;
const orderNs = ((performance.now() - t0) * 1e6) / N;
t0 = performance.now();
for (let i = 0; i < N; i++)
  sink += orderForCapacity(
    orderDeployments(entries[i % entries.length]!, Math.random),
    plan,
    now,
    (x) => costs.get(x.upstreamId) ?? 0n,
  ).length;
const capacityNs = ((performance.now() - t0) * 1e6) / N;
const M = 200_000;
t0 = performance.now();
for (let i = 0; i < M; i++) {
  const v = limiter.reserve({
    holdId: `h${i}`,
    nowMs: now + i,
    tokens: 100,
    costMicros: 0n,
    rules: [pool.rule],
  });
  if (v.ok) limiter.settle(v.hold, { tokens: 90, costMicros: 0n }, now + i);
}
const admitNs = ((performance.now() - t0) * 1e6) / M;

// Rebuilds while "traffic" runs: the event loop's delay while rebuilding 10 times a second.
const h = monitorEventLoopDelay({ resolution: 1 });
h.enable();
const timer = setInterval(() => {
  table = compileRouteTable(catalog, agreement, log, systemClock.now(), ['microsoft']);
}, 100);
const until = performance.now() + 2000;
let lookups = 0;
await new Promise<void>((resolve) => {
  const tick = () => {
    for (let i = 0; i < 1000; i++) sink += table.models.get(names[i % names.length]!)!.deployments.length;
    lookups += 1000;
    if (performance.now() < until) setImmediate(tick);
    else resolve();
  };
  tick();
});
clearInterval(timer);
h.disable();

process.stdout.write(
  `${[
    `# Route table (${MODELS} models × 4 deployments, licensee checks on)`,
    '',
    '| figure | value |',
    '|---|---|',
    `| lookup per request (entry + licence + order) | ${lookupNs.toFixed(0)} ns |`,
    `| baseline: one Map.get | ${baseNs.toFixed(0)} ns |`,
    `| ratio | ×${(lookupNs / baseNs).toFixed(1)} |`,
    `| deployment order, capacity off | ${orderNs.toFixed(0)} ns |`,
    `| deployment order, capacity on (pools first, pay-as-you-go by cost) | ${capacityNs.toFixed(0)} ns (+${(capacityNs - orderNs).toFixed(0)} ns, ×${(capacityNs / orderNs).toFixed(1)}) |`,
    `| with capacity: pool reserve + settle, in process | ${admitNs.toFixed(0)} ns |`,
    `| rebuild (compile) | ${rebuildMs.toFixed(2)} ms |`,
    `| event-loop delay p99 / max while rebuilding 10×/s | ${(h.percentile(99) / 1e6).toFixed(2)} / ${(h.max / 1e6).toFixed(2)} ms |`,
    `| lookups served during that time | ${lookups} |`,
  ].join('\n')}\n`,
);
if (sink === -1) process.stdout.write('');
