// Capacity pools, end to end through the official openai SDK: an Azure PTU pool (the simulator
// behaves like Azure's provisioned deployments: a 60 s leaky bucket that answers 429 with
// retry-after-ms at 100%) with a standard deployment beside it; a burst fills the pool to its
// target utilization, then spills over to the standard deployment, then (the standard one
// throttled) to the other cloud; every answer says which capacity served it, every usage record
// names it, the PTU deployment never reaches 100%, and no request is refused while capacity
// remains. Plus the ordering rule as a table, and hostile pool definitions.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { CapacityPlan, orderForCapacity } from '../src/capacity/index.js';
import { parseConfigText } from '../src/config/index.js';
import { metered } from './helpers/prices.js';
import { DEMO_KEY, flushed, type Stack, sha, startStack } from './helpers/stack.js';

const PTU_TPM = 1_000;

describe('an Azure PTU pool that spills over to standard, then to the other cloud', () => {
  let stack: Stack;
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'entente-capacity-'));
    const metering = metered(dir, 50);
    stack = await startStack({
      dataDir: dir,
      server: `  adminKeySha256: ${sha('sk-capacity-admin')}`,
      modelsYaml: `  - name: gpt-4.1
    ownedBy: openai
    deployments:
      - { upstream: azure-eastus, deployment: gpt41-ptu, modelVersion: "2025-04-14" }
      - { upstream: azure-eastus, deployment: gpt41-standard, modelVersion: "2025-04-14" }
      - { upstream: openai, deployment: gpt-4.1, modelVersion: "2025-04-14" }`,
      extraYaml: `${metering.ledgerYaml}
capacity:
  targetUtilization: 0.9
  pools:
    - id: azure-ptu-eastus
      deployments: [azure-eastus/gpt41-ptu]
      unit: tokens-per-minute
      size: ${PTU_TPM}
      term: { from: 2026-01-01T00:00:00Z, to: 2027-01-01T00:00:00Z }
      cost: { fixedPerMonth: "2000.00" }
      accelerator: nvidia-gb200
      datacenter: fairwater-atlanta`,
      priceBooks: metering.priceBooks,
    });
    stack.azure.settings.provisioned = { 'gpt41-ptu': PTU_TPM };
    const reply = Array.from({ length: 200 }, (_, i) => `w${i}`).join(' ');
    stack.azure.settings.reply = reply;
    stack.openai.settings.reply = reply;
  });
  after(() => stack.close());

  test('fills the pool to its target, spills to standard, then to the other cloud; records name the pool', async () => {
    const client = new OpenAI({ baseURL: stack.baseURL, apiKey: DEMO_KEY, maxRetries: 0 });
    const ask = () =>
      client.chat.completions
        .create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }], max_tokens: 50 })
        .withResponse();
    const served: { capacity: string | null; from: string | null; deployment: string | null }[] = [];
    for (let i = 0; i < 24; i++) {
      const { response } = await ask();
      served.push({
        capacity: response.headers.get('x-entente-capacity'),
        from: response.headers.get('x-entente-spillover-from'),
        deployment: response.headers.get('x-entente-deployment'),
      });
    }
    // Worst case 13 + 50 = 63 tokens reserved, 7 + 50 = 57 used: the pool admits while what it
    // served in the last minute plus 63 stays within 900 (90% of 1,000): 15 requests.
    const pooled = served.filter((s) => s.capacity === 'azure-ptu-eastus');
    assert.equal(pooled.length, 15);
    assert.ok(pooled.every((s) => s.deployment === 'azure-eastus/gpt41-ptu' && s.from === null));
    const spilled = served.slice(15);
    assert.ok(
      spilled.every(
        (s) =>
          s.capacity === 'pay-as-you-go' &&
          s.from === 'azure-ptu-eastus' &&
          s.deployment === 'azure-eastus/gpt41-standard',
      ),
      JSON.stringify(spilled),
    );
    // The PTU deployment never saw 100%: the simulator answered no 429.
    const ptuCalls = stack.azure.requests.filter((r) => r.deployment === 'gpt41-ptu').length;
    assert.equal(ptuCalls, 15);
    // The standard deployment throttled: the next cloud in cost order serves, still no refusal.
    stack.azure.setFault({ kind: 'rate_limit', count: 1, retryAfterS: 30 });
    const { response } = await ask();
    assert.equal(response.headers.get('x-entente-deployment'), 'openai/gpt-4.1');
    assert.equal(response.headers.get('x-entente-capacity'), 'pay-as-you-go');
    await flushed(stack);
    const records = (await stack.store.listUsage({ limit: 100 })).filter((r) => r.model === 'gpt-4.1');
    assert.equal(records.filter((r) => r.capacity === 'azure-ptu-eastus').length, 15);
    assert.equal(records.filter((r) => r.capacity === 'pay-as-you-go').length, 10);
  });

  test('status from the roll-ups: utilization, the share spilled, the effective price; the forecast says what it lacks', async () => {
    const r = await fetch(`${stack.url}/v1/entente/capacity`, {
      headers: { authorization: 'Bearer sk-capacity-admin' },
    });
    assert.equal(r.status, 200);
    const body = (await r.json()) as {
      pools: {
        id: string;
        capacityTpm: number;
        admitTpm: number;
        accelerator: string;
        lastHour: { tokens: number; peakMinuteTokens: number; utilization: number };
        last24h: { inPool: number; spilled: number; spillShare: number };
        month: { tokens: number; effectivePerMillion: string | null };
        forecast: unknown;
        reason?: string;
      }[];
    };
    const p = body.pools[0]!;
    assert.deepEqual(
      [p.id, p.capacityTpm, p.admitTpm, p.accelerator],
      ['azure-ptu-eastus', 1_000, 900, 'nvidia-gb200'],
    );
    // 15 requests of 7 + 50 tokens in the pool; 10 of 57 elsewhere (9 on standard, 1 on OpenAI).
    assert.equal(p.last24h.inPool, 15 * 57);
    assert.equal(p.last24h.spilled, 10 * 57);
    assert.equal(p.last24h.spillShare, 10 / 25);
    assert.ok(p.lastHour.peakMinuteTokens <= 15 * 57 && p.lastHour.utilization <= 1);
    assert.equal(p.month.tokens, 15 * 57);
    assert.ok(p.month.effectivePerMillion !== null);
    // Minutes of traffic are no four weeks: the forecast still answers, and its backtest says it cannot.
    assert.ok(p.forecast === null || (p.forecast as { backtestMape: unknown }).backtestMape === null);
  });
});

describe('the order of a route with capacity', () => {
  const config = parseConfigText(
    `routing: { primaryCloud: azure }
upstreams:
  - { id: az, provider: openai, cloud: azure, baseUrl: "http://127.0.0.1:1/v1", auth: { apiKey: x } }
  - { id: aws, provider: openai, cloud: aws, baseUrl: "http://127.0.0.1:1/v1", auth: { apiKey: x } }
models:
  - name: m
    deployments:
      - { upstream: az, deployment: ptu, modelVersion: "1" }
      - { upstream: az, deployment: std, modelVersion: "1" }
      - { upstream: aws, deployment: pt, modelVersion: "1" }
      - { upstream: aws, deployment: dear, modelVersion: "1" }
      - { upstream: aws, deployment: cheap, modelVersion: "1" }
capacity:
  pools:
    - { id: az-ptu, deployments: [az/ptu], unit: ptu, size: 100, tokensPerMinutePerUnit: 2500, term: { from: 2026-01-01T00:00:00Z }, cost: { fixedPerMonth: "26000" } }
    - { id: aws-pt, deployments: [aws/pt], unit: model-units, size: 2, tokensPerMinutePerUnit: 40000, term: { from: 2026-01-01T00:00:00Z, to: 2026-06-01T00:00:00Z }, cost: { fixedPerMonth: "30000" } }`,
    'c.yaml',
    {},
  );
  const plan = new CapacityPlan(config.capacity);
  const d = (key: string, primary: boolean) => ({ key, primary });
  const order = [
    d('az/std', true),
    d('az/ptu', true),
    d('aws/dear', false),
    d('aws/pt', false),
    d('aws/cheap', false),
  ];
  const cost = (x: { key: string }) =>
    ({ 'az/ptu': 7n, 'az/std': 5n, 'aws/pt': 3n, 'aws/dear': 9n, 'aws/cheap': 1n })[x.key] ?? 0n;
  const keys = (atMs: number) => orderForCapacity(order, plan, atMs, cost).map((x) => x.key);

  test('primary first; in each group the pools in force, then pay-as-you-go cheapest first', () => {
    assert.deepEqual(keys(Date.UTC(2026, 2, 1)), ['az/ptu', 'az/std', 'aws/pt', 'aws/cheap', 'aws/dear']);
    // After its term a pool is pay-as-you-go like any other deployment: in cost order.
    assert.deepEqual(keys(Date.UTC(2026, 6, 1)), ['az/ptu', 'az/std', 'aws/cheap', 'aws/pt', 'aws/dear']);
    assert.equal(plan.poolOf('aws/pt', Date.UTC(2026, 6, 1)), null);
    // Before any term starts: no pool.
    assert.deepEqual(keys(Date.UTC(2025, 0, 1)), ['az/std', 'az/ptu', 'aws/cheap', 'aws/pt', 'aws/dear']);
    assert.equal(plan.byId('az-ptu')?.admitTpm, Math.floor(100 * 2500 * 0.9));
  });

  test('hostile pool definitions are refused at start, each naming the field', () => {
    const base = (pool: string) => `routing: { primaryCloud: azure }
upstreams: [{ id: az, provider: openai, cloud: azure, baseUrl: "http://127.0.0.1:1/v1", auth: { apiKey: x } }]
models: [{ name: m, deployments: [{ upstream: az, deployment: ptu, modelVersion: "1" }] }]
capacity:
  pools:
${pool}`;
    const ok =
      '{ id: p, deployments: [az/ptu], unit: ptu, size: 1, term: { from: 2026-01-01T00:00:00Z }, cost: { fixedPerMonth: "1" } }';
    const cases: [string, RegExp][] = [
      [`    - ${ok.replace('az/ptu', 'az/nope')}`, /no deployment 'az\/nope'/],
      [`    - ${ok.replace('az/ptu', 'ptu')}`, /<upstream id>\/<deployment>/],
      [`    - ${ok}\n    - ${ok}`, /duplicate pool id 'p'|already in pool 'p'/],
      [`    - ${ok.replace('size: 1', 'size: 0')}`, /size/],
      [`    - ${ok.replace('size: 1', 'size: -3')}`, /size/],
      [`    - ${ok.replace('unit: ptu', 'unit: gigawatts')}`, /unit/],
      [`    - ${ok.replace('fixedPerMonth: "1"', 'fixedPerMonth: "lots"')}`, /fixedPerMonth/],
      [`    - ${ok.replace('from: 2026-01-01T00:00:00Z', 'from: someday')}`, /from/],
      [`    - ${ok.replace('}, cost', ', to: 2025-01-01T00:00:00Z }, cost')}`, /ends after it starts/],
      [`    - ${ok.replace('cost:', 'overflow: p, cost:')}`, /overflow names no other pool/],
      [`    - ${ok.replace('cost:', 'targetUtilization: 1.5, cost:')}`, /targetUtilization/],
      [`    - ${ok.replace('cost:', 'surprise: 1, cost:')}`, /surprise|Unrecognized/i],
    ];
    for (const [pool, why] of cases)
      assert.throws(
        () => parseConfigText(base(pool), 'c.yaml', {}),
        (e: Error) => {
          assert.match(`${e.message} ${JSON.stringify(e)}`, why, pool);
          return true;
        },
      );
  });
});
