// Capacity on every cloud's own terms, end to end through the official openai SDK. Each simulator
// meters provisioned throughput as its cloud does and says in its answer which capacity served:
// Azure spills a full PTU deployment to the standard deployment Entente names
// (x-ms-spillover-deployment → x-ms-spillover-from-<deployment>), OpenAI's scale tier answers
// `service_tier`, Vertex's Provisioned Throughput answers `usageMetadata.trafficType`, Bedrock's
// reserved tier answers `serviceTier`. The cloud's word outranks Entente's local count: a pooled
// request the cloud served from shared capacity is recorded as pay-as-you-go, spilled from the
// pool, and the pool is not charged for it. The ledger names the capacity of every revenue
// posting, and charges each pool's fixed monthly cost once per month.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import {
  type CloudSimulator,
  type Simulator,
  startBedrockSimulator,
  startGoogleSimulator,
  startSimulator,
} from '../sim/index.js';
import { parseAgreementText } from '../src/agreements/index.js';
import { parseConfigText } from '../src/config/index.js';
import { parsePriceBooks } from '../src/ledger/index.js';
import { parseConverseResponse } from '../src/providers/bedrock/response.js';
import type { UsageRecord } from '../src/store/index.js';
import { eventually } from './helpers/eventually.js';
import { startGatewayFromYaml, type TestGateway } from './helpers/gateway.js';
import { sha } from './helpers/stack.js';

const KEY = 'sk-test-capacity-clouds';
const PRICES = `currency: USD
books:
  - id: list
    effectiveFrom: 2025-01-01T00:00:00Z
    prices:
      - { model: "*", modelVersion: azure-1, inputUncached: "0.20", inputCached: "0.10", output: "0.80" }
      - { model: "*", modelVersion: bedrock-1, inputUncached: "0.15", inputCached: "0.07", output: "0.60" }
      - { model: "*", modelVersion: openai-1, inputUncached: "0.30", inputCached: "0.15", output: "1.20" }
      - { model: "*", modelVersion: vertex-1, inputUncached: "0.25", inputCached: "0.12", output: "1.00" }
`;

describe('capacity on each cloud, by what the cloud says served', () => {
  let azure: Simulator;
  let openai: Simulator;
  let bedrock: CloudSimulator;
  let google: CloudSimulator;
  let gw: TestGateway;
  let client: OpenAI;
  const reply = Array.from({ length: 50 }, (_, i) => `w${i}`).join(' ');

  before(async () => {
    azure = await startSimulator({ kind: 'azure-openai', apiKey: 'azure-secret' });
    openai = await startSimulator({ kind: 'openai', apiKey: 'openai-secret' });
    bedrock = await startBedrockSimulator();
    google = await startGoogleSimulator({ apiKey: 'ya29.sim-token' });
    for (const s of [azure, openai, bedrock, google]) s.settings.reply = reply;
    const dir = mkdtempSync(join(tmpdir(), 'entente-capacity-clouds-'));
    const prices = join(dir, 'prices.yaml');
    writeFileSync(prices, PRICES);
    const yaml = `
server: { host: 127.0.0.1, port: 0, adminKeySha256: ${sha('sk-capacity-clouds-admin')} }
routing:
  primaryCloud: azure
  maxAttempts: 3
  cooldown: { failureThreshold: 1, cooldownMs: 60000, maxCooldownMs: 120000 }
upstreams:
  - { id: azure, provider: azure-openai, cloud: azure, region: eastus, baseUrl: "${azure.url}", apiVersion: 2024-10-21, auth: { apiKey: azure-secret } }
  - { id: openai, provider: openai, cloud: openai, baseUrl: "${openai.url}/v1", auth: { apiKey: openai-secret } }
  - { id: bedrock, provider: bedrock, cloud: aws, region: us-east-1, baseUrl: "${bedrock.url}", auth: { awsAccessKeyId: AKIDSIM, awsSecretAccessKey: sim-secret } }
  - { id: vertex, provider: vertex, cloud: gcp, region: us-central1, project: my-proj, baseUrl: "${google.url}", auth: { apiKey: ya29.sim-token } }
models:
  - name: gpt-5-mini
    ownedBy: openai
    deployments:
      - { upstream: azure, deployment: g5-ptu, modelVersion: azure-1 }
      - { upstream: azure, deployment: g5-std, modelVersion: azure-1 }
      - { upstream: openai, deployment: gpt-5-mini, modelVersion: openai-1 }
      - { upstream: bedrock, deployment: "openai.gpt-5-mini-v1:0", modelVersion: bedrock-1 }
  - name: gpt-5-nano
    ownedBy: openai
    deployments:
      - { upstream: azure, deployment: nano-ptu, modelVersion: azure-1 }
      - { upstream: azure, deployment: nano-std, modelVersion: azure-1 }
  - name: scale-model
    deployments: [{ upstream: openai, deployment: scale-model, modelVersion: openai-1 }]
  - name: vertex-model
    deployments: [{ upstream: vertex, deployment: gemini-2.5-pro, modelVersion: vertex-1 }]
  - name: bedrock-model
    deployments: [{ upstream: bedrock, deployment: "openai.gpt-oss-20b-1:0", modelVersion: bedrock-1 }]
tenants:
  - id: acme
    keys: [{ id: acme-key, sha256: ${sha(KEY)}, models: ["*"] }]
ledger: { priceBooks: ${prices}, owner: openai, intervalMs: 50 }
usage: { batchSize: 50, flushIntervalMs: 20 }
capacity:
  targetUtilization: 0.9
  pools:
    - id: g5-ptu
      deployments: [azure/g5-ptu]
      unit: tokens-per-minute
      size: 1000
      term: { from: 2026-01-01T00:00:00Z, to: 2027-01-01T00:00:00Z }
      cost: { fixedPerMonth: "3100.00" }
      spilloverDeployment: g5-std
    - id: nano-ptu
      deployments: [azure/nano-ptu]
      unit: ptu
      size: 100
      tokensPerMinutePerUnit: 1000
      term: { from: 2026-11-15T00:00:00Z }
      cost: { fixedPerMonth: "3000.00" }
      spilloverDeployment: nano-std
    - { id: scale, deployments: [openai/scale-model], unit: tokens-per-minute, size: 100000, term: { from: 2026-01-01T00:00:00Z }, cost: { fixedPerMonth: "100.00" } }
    - { id: vertex-pt, deployments: [vertex/gemini-2.5-pro], unit: gsu, size: 10, tokensPerMinutePerUnit: 10000, term: { from: 2026-01-01T00:00:00Z }, cost: { fixedPerMonth: "100.00" } }
    - { id: bedrock-reserved, deployments: ["bedrock/openai.gpt-oss-20b-1:0"], unit: tokens-per-minute, size: 100000, term: { from: 2026-01-01T00:00:00Z }, cost: { fixedPerMonth: "100.00" }, serviceTier: reserved }
`;
    gw = await startGatewayFromYaml(yaml, dir, { priceBooks: parsePriceBooks(PRICES, 'prices.yaml') });
    client = new OpenAI({ baseURL: gw.baseURL, apiKey: KEY, maxRetries: 0 });
  });
  after(async () => {
    await gw.close();
    await Promise.all([azure.close(), openai.close(), bedrock.close(), google.close()]);
  });

  const ask = (model: string, stream = false) =>
    stream
      ? client.chat.completions
          .create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 60, stream: true })
          .withResponse()
      : client.chat.completions
          .create({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 60 })
          .withResponse();

  test('a burst fills the Azure PTU pool to its target, spills to standard, then to Bedrock in cost order; nothing refused', async (t) => {
    azure.settings.provisioned = { 'g5-ptu': 1000 };
    const seen: Record<string, string | null>[] = [];
    for (let i = 0; i < 20; i++) {
      const { response } = await ask('gpt-5-mini');
      seen.push({
        capacity: response.headers.get('x-entente-capacity'),
        from: response.headers.get('x-entente-spillover-from'),
        deployment: response.headers.get('x-entente-deployment'),
      });
    }
    // 57 tokens used, 13 + 60 reserved: the pool admits while the minute stays within 900.
    const pooled = seen.filter((s) => s.capacity === 'g5-ptu');
    assert.ok(pooled.length >= 12 && pooled.length <= 15, JSON.stringify(seen));
    assert.ok(pooled.every((s) => s.deployment === 'azure/g5-ptu'));
    const spilled = seen.slice(pooled.length);
    t.diagnostic(
      `Azure PTU pool: ${pooled.length} of 20 served in the pool, ${spilled.length} spilled to the standard deployment`,
    );
    assert.ok(
      spilled.every(
        (s) => s.capacity === 'pay-as-you-go' && s.from === 'g5-ptu' && s.deployment === 'azure/g5-std',
      ),
      JSON.stringify(spilled),
    );
    // Every pooled request named the spill-over deployment to Azure; the PTU never reached 100%.
    const ptu = azure.requests.filter((r) => r.deployment === 'g5-ptu');
    assert.equal(ptu.length, pooled.length);
    assert.ok(ptu.every((r) => r.headers['x-ms-spillover-deployment'] === 'g5-std'));
    // Standard throttled: the next in cost order is Bedrock (cheaper than OpenAI), not refused.
    azure.setFault({ kind: 'rate_limit', count: 1, retryAfterS: 30 });
    const { response } = await ask('gpt-5-mini');
    assert.equal(response.headers.get('x-entente-deployment'), 'bedrock/openai.gpt-5-mini-v1:0');
    assert.equal(response.headers.get('x-entente-capacity'), 'pay-as-you-go');
    const rec = await gw.usageOf(response.headers.get('x-request-id'));
    assert.deepEqual([rec.cloud, rec.capacity, rec.status], ['aws', 'pay-as-you-go', 200]);
  });

  test("Azure's own spill-over outranks the local count: recorded on the standard deployment, the pool not charged", async () => {
    // The pool is sized at 100,000 tokens/min, but the PTU deployment really holds 500 (shared
    // with other users, say): Azure fills first and spills to nano-std by itself.
    azure.settings.provisioned = { 'nano-ptu': 500 };
    const out: { capacity: string | null; from: string | null; id: string | null; stream: boolean }[] = [];
    for (let i = 0; i < 14; i++) {
      const stream = i % 2 === 1;
      const { data, response } = await ask('gpt-5-nano', stream);
      if (stream) for await (const _ of data as AsyncIterable<unknown>);
      out.push({
        capacity: response.headers.get('x-entente-capacity'),
        from: response.headers.get('x-entente-spillover-from'),
        id: response.headers.get('x-request-id'),
        stream,
      });
    }
    const records: UsageRecord[] = [];
    for (const o of out) records.push(await gw.usageOf(o.id));
    const inPool = records.filter((r) => r.capacity === 'nano-ptu');
    const spilled = records.filter((r) => r.tier === 'spillover');
    // 57 tokens each: Azure admits while under 500, so 9 in the PTU, the rest spilled by Azure.
    assert.equal(inPool.length, 9, JSON.stringify(records.map((r) => [r.capacity, r.tier])));
    assert.equal(spilled.length, 5);
    assert.ok(
      spilled.every((r) => r.capacity === 'pay-as-you-go' && r.deployment === 'nano-std'),
      JSON.stringify(spilled),
    );
    assert.ok(inPool.every((r) => r.deployment === 'nano-ptu' && r.tier === undefined));
    // The JSON answers already knew (the header arrives before the body); the client saw it.
    const jsonSpilled = out.filter((o, i) => !o.stream && records[i]!.tier === 'spillover');
    assert.ok(jsonSpilled.length > 0);
    assert.ok(jsonSpilled.every((o) => o.capacity === 'pay-as-you-go' && o.from === 'nano-ptu'));
    // The pool was charged only what it served: from the roll-ups, its deployment's tokens are
    // the 9 pooled answers', the spilled ones are the standard deployment's.
    const r = await fetch(`${gw.baseURL.replace(/\/v1$/, '')}/v1/entente/capacity`, {
      headers: { authorization: 'Bearer sk-capacity-clouds-admin' },
    });
    const body = (await r.json()) as { pools: { id: string; lastHour: { tokens: number } }[] };
    assert.equal(body.pools.find((p) => p.id === 'nano-ptu')?.lastHour.tokens, 9 * 57);
  });

  test("OpenAI's scale tier, Vertex's Provisioned Throughput, Bedrock's reserved tier: the tier each cloud names is recorded, shared traffic is pay-as-you-go", async () => {
    openai.settings.provisioned = { 'scale-model': 200 };
    google.settings.provisioned = { 'gemini-2.5-pro': 200 };
    bedrock.settings.provisioned = { 'openai.gpt-oss-20b-1:0': 200 };
    for (const [model, provisioned, shared] of [
      ['scale-model', 'scale', 'default'],
      ['vertex-model', 'PROVISIONED_THROUGHPUT', 'ON_DEMAND'],
      ['bedrock-model', 'reserved', 'default'],
    ] as const) {
      const recs: UsageRecord[] = [];
      for (let i = 0; i < 6; i++) {
        const stream = i % 2 === 0;
        const { data, response } = await ask(model, stream);
        if (stream) for await (const _ of data as AsyncIterable<unknown>);
        recs.push(await gw.usageOf(response.headers.get('x-request-id')));
      }
      const tiers = recs.map((r) => `${r.tier}:${r.capacity}`);
      // 200 tokens a minute hold 4 answers of 57 (admitted below 100%), then shared capacity serves.
      const pool = {
        'scale-model': 'scale',
        'vertex-model': 'vertex-pt',
        'bedrock-model': 'bedrock-reserved',
      }[model];
      assert.deepEqual(tiers, [
        ...Array(4).fill(`${provisioned}:${pool}`),
        ...Array(2).fill(`${shared}:pay-as-you-go`),
      ]);
    }
    // Entente asked Bedrock for the reserved tier on every request of the pool.
    const asked = bedrock.requests.filter((r) => r.deployment === 'openai.gpt-oss-20b-1:0');
    assert.equal(asked.length, 6);
    assert.ok(
      asked.every((r) => (r.body as { serviceTier?: { type?: string } }).serviceTier?.type === 'reserved'),
    );
  });

  test('the ledger names the capacity of each revenue posting and charges each pool once a month', async () => {
    await gw.gateway.context.usageLog.flush();
    const rows = await eventually(async () => {
      const r = await gw.store.ledgerRows();
      return r.some((x) => x.code === 'capacity' && x.capacity === 'nano-ptu') ? r : null;
    }, 'the capacity charges');
    const revenue = rows.filter((r) => r.code === 'revenue' && r.account.startsWith('revenue:'));
    const usage = await gw.store.listUsage({ limit: 1000 });
    for (const u of usage.filter((x) => x.status === 200)) {
      const tx = revenue.find((r) => r.causeId === u.requestId);
      assert.ok(tx, `a revenue posting for ${u.requestId}`);
      assert.equal(tx.capacity, u.capacity ?? null);
    }
    // nano-ptu's term starts 2026-11-15: November costs 16/30 of 3,000.00; each month posted once.
    const charges = rows.filter((r) => r.code === 'capacity' && r.account.startsWith('capacity-expense:'));
    const nano = charges.filter((r) => r.capacity === 'nano-ptu');
    const now = new Date();
    const months = (now.getUTCFullYear() - 2026) * 12 + now.getUTCMonth() - 10 + 1;
    assert.equal(nano.length, months);
    assert.equal(nano.find((r) => r.txId === 'capacity:nano-ptu:2026-11')?.amountMicros, 1_600_000_000n);
    // A month of g5-ptu (January 2026, whole) is its full fixed cost.
    assert.equal(charges.find((r) => r.txId === 'capacity:g5-ptu:2026-01')?.amountMicros, 3_100_000_000n);
    // Every transaction balances, charges included.
    const byTx = new Map<string, bigint>();
    for (const r of rows) byTx.set(r.txId, (byTx.get(r.txId) ?? 0n) + r.amountMicros);
    assert.ok([...byTx.values()].every((v) => v === 0n));
  });
});

describe('capacity signals and references, checked at the edges', () => {
  test("Bedrock's reserved tier overflows by itself, and its answer's serviceTier is read", async () => {
    const bedrock = await startBedrockSimulator();
    try {
      bedrock.settings.provisioned = { 'openai.gpt-5-mini-v1:0': 10 };
      const { BedrockRuntimeClient, ConverseCommand } = await import('@aws-sdk/client-bedrock-runtime');
      const sdk = new BedrockRuntimeClient({
        region: 'us-east-1',
        endpoint: bedrock.url,
        credentials: { accessKeyId: 'AKIDSIM', secretAccessKey: 'sim-secret' },
      });
      const tiers: string[] = [];
      for (let i = 0; i < 4; i++) {
        const r = await sdk.send(
          new ConverseCommand({
            modelId: 'openai.gpt-5-mini-v1:0',
            messages: [{ role: 'user', content: [{ text: 'hi there' }] }],
            serviceTier: { type: 'reserved' },
          }),
        );
        tiers.push(String(r.serviceTier?.type));
      }
      assert.deepEqual(tiers.slice(0, 1), ['reserved']);
      assert.equal(tiers.at(-1), 'default');
      const parsed = parseConverseResponse(
        new TextEncoder().encode(
          JSON.stringify({
            output: { message: { role: 'assistant', content: [{ text: 'ok' }] } },
            stopReason: 'end_turn',
            usage: { inputTokens: 3, outputTokens: 1, totalTokens: 4 },
            serviceTier: { type: 'reserved' },
          }),
        ),
        { model: 'm', id: 'chatcmpl-1', created: 1 },
      );
      assert.equal('tier' in parsed ? parsed.tier : null, 'reserved');
    } finally {
      await bedrock.close();
    }
  });

  test('hostile references are refused: a spill-over deployment off Azure, a programme naming no pool', () => {
    const cfg = (extra: string) => `routing: { primaryCloud: azure }
upstreams:
  - { id: az, provider: azure-openai, cloud: azure, baseUrl: "http://127.0.0.1:1", apiVersion: 2024-10-21, auth: { apiKey: x } }
  - { id: oa, provider: openai, cloud: openai, baseUrl: "http://127.0.0.1:1/v1", auth: { apiKey: x } }
models: [{ name: m, deployments: [{ upstream: az, deployment: ptu, modelVersion: "1" }, { upstream: oa, deployment: m, modelVersion: "1" }] }]
capacity:
  pools:
    - { id: p, deployments: [${extra}], unit: ptu, size: 1, term: { from: 2026-01-01T00:00:00Z }, cost: { fixedPerMonth: "1" }, spilloverDeployment: std }`;
    assert.ok(parseConfigText(cfg('az/ptu'), 'c.yaml', {}).capacity?.pools[0]?.spilloverDeployment === 'std');
    assert.throws(() => parseConfigText(cfg('oa/m'), 'c.yaml', {}), /a spill-over deployment is Azure's/);
    assert.throws(
      () =>
        parseConfigText(
          cfg('az/ptu').replace('spilloverDeployment: std', 'serviceTier: reserved'),
          'c.yaml',
          {},
        ),
      /a service tier is Bedrock's/,
    );
    assert.throws(
      () =>
        parseConfigText(
          cfg('az/ptu').replace('spilloverDeployment: std', 'serviceTier: platinum'),
          'c.yaml',
          {},
        ),
      /serviceTier/,
    );
    assert.throws(
      () =>
        parseConfigText(
          cfg('az/ptu').replace('spilloverDeployment: std', 'spilloverDeployment: "a b"'),
          'c.yaml',
          {},
        ),
      /Azure deployment name/,
    );
    const agreement = (pools: string) => `id: a
title: Test
parties: [{ id: openai, name: OpenAI }, { id: microsoft, name: Microsoft }]
versions:
  - id: v1
    kind: original
    title: Test
    validFrom: 2026-01-01T00:00:00Z
    recordedAt: 2026-01-01T00:00:00Z
    terms:
      cloud: { primary: azure, exclusive: false, permittedClouds: any, firstDeployment: { rule: primary-first } }
      programmes:
        - { id: dc, kind: datacenter-capacity, title: "Capacity", pools: ${pools} }`;
    const checks = { pools: new Set(['p']) };
    assert.deepEqual(
      parseAgreementText(agreement('[p]'), 'a.yaml', checks).versions[0]!.terms.programmes[0]!.pools,
      ['p'],
    );
    assert.throws(() => parseAgreementText(agreement('[nope]'), 'a.yaml', checks), /names pool 'nope'/);
    assert.throws(() => parseAgreementText(agreement('["bad id!"]'), 'a.yaml', checks), /pools/);
  });
});
