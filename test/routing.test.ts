// Routing policy and the circuit breaker, as table tests over pure functions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfigText } from '../src/config/index.js';
import { compileCatalog, HealthTracker, orderDeployments } from '../src/routing/index.js';

const config = parseConfigText(
  `routing: { primaryCloud: azure }
upstreams:
  - { id: az1, provider: azure-openai, cloud: azure, baseUrl: "https://a", apiVersion: v }
  - { id: az2, provider: azure-openai, cloud: azure, baseUrl: "https://b", apiVersion: v }
  - { id: oai, provider: openai, cloud: openai, baseUrl: "https://c" }
  - { id: oci, provider: openai, cloud: oracle, baseUrl: "https://d" }
models:
  - name: m
    deployments:
      - { upstream: oci, deployment: x, modelVersion: "1", priority: 5 }
      - { upstream: oai, deployment: x, modelVersion: "1", priority: 1 }
      - { upstream: az2, deployment: x, modelVersion: "1", weight: 1 }
      - { upstream: az1, deployment: x, modelVersion: "1", weight: 3 }
      - { upstream: az1, deployment: off, modelVersion: "1", weight: 0 }
`,
  't.yaml',
  {},
);
const model = compileCatalog(config).get('m')!;

test('primary-cloud deployments come first, then others by priority; weight 0 is never tried', () => {
  for (let i = 0; i < 50; i++) {
    const order = orderDeployments(model, Math.random).map((d) => d.upstreamId);
    assert.deepEqual(order.slice(2), ['oai', 'oci']);
    assert.deepEqual([...order.slice(0, 2)].sort(), ['az1', 'az2']);
    assert.equal(order.length, 4);
  }
});

test('weights split traffic within a tier (3:1)', () => {
  let seed = 42;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  let az1First = 0;
  const n = 20_000;
  for (let i = 0; i < n; i++) if (orderDeployments(model, random)[0]!.upstreamId === 'az1') az1First++;
  const share = az1First / n;
  assert.ok(share > 0.72 && share < 0.78, `az1 first in ${share} of orders, expected 0.75`);
});

test('breaker: threshold, cooldown, a single half-open probe, doubling, reset on success', () => {
  const h = new HealthTracker({ failureThreshold: 2, cooldownMs: 1000, maxCooldownMs: 3000 });
  const k = 'az1/x';
  assert.deepEqual(h.acquire(k, 0), { available: true, probe: false });
  h.failure(k, 0, null, 'server');
  assert.equal(h.acquire(k, 1).available, true, 'one failure is below the threshold');
  h.failure(k, 10, null, 'server');
  assert.deepEqual(h.acquire(k, 500), { available: false, untilMs: 1010 });
  assert.deepEqual(h.acquire(k, 1010), { available: true, probe: true });
  assert.equal(h.acquire(k, 1011).available, false, 'only one probe at a time');
  h.failure(k, 1020, null, 'server');
  assert.deepEqual(h.acquire(k, 2000), { available: false, untilMs: 3020 }, 'the cooldown doubled');
  h.acquire(k, 3020);
  h.failure(k, 3020, null, 'server');
  assert.deepEqual(h.acquire(k, 3021), { available: false, untilMs: 6020 }, 'capped at maxCooldownMs');
  h.acquire(k, 6020);
  h.success(k);
  assert.deepEqual(h.acquire(k, 6021), { available: true, probe: false });
});

test('breaker: every state change is recorded, with when and why, and announced', () => {
  let now = 0;
  const seen: string[] = [];
  const h = new HealthTracker(
    { failureThreshold: 2, cooldownMs: 1000, maxCooldownMs: 3000 },
    { onTransition: (t) => seen.push(`${t.from}->${t.to}`) },
    () => now,
  );
  const k = 'az1/x';
  h.failure(k, 0, null, 'server');
  assert.deepEqual(h.transitions(), [], 'below the threshold nothing changes');
  h.failure(k, 10, null, 'timeout');
  h.failure(k, 20, null, 'timeout'); // in flight when it opened: already open, no new change
  h.acquire(k, 1010);
  h.failure(k, 1020, null, 'server');
  h.acquire(k, 3020);
  now = 3030;
  h.success(k);
  assert.deepEqual(seen, [
    'closed->open',
    'open->half-open',
    'half-open->open',
    'open->half-open',
    'half-open->closed',
  ]);
  assert.deepEqual(
    h.transitions().map((t) => [t.atMs, t.reason]),
    [
      [10, 'timeout'],
      [1010, 'cooldown over: one probe request'],
      [1020, 'server'],
      [3020, 'cooldown over: one probe request'],
      [3030, 'a request succeeded'],
    ],
  );
});

test('breaker: a 429 cools down for retry-after at once; release frees an unused probe', () => {
  const h = new HealthTracker({ failureThreshold: 5, cooldownMs: 1000, maxCooldownMs: 10_000 });
  h.failure('k', 0, 30_000, 'rate_limited');
  assert.deepEqual(h.acquire('k', 29_999), { available: false, untilMs: 30_000 });
  assert.equal(h.acquire('k', 30_000).available, true);
  h.release('k');
  assert.equal(h.acquire('k', 30_001).available, true, 'the released probe slot is free again');
});
