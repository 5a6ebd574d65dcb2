// Hardening against what a hostile probe found (the numbers refer to the hardening issue's list):
// a probe slot given back whatever happens (3), mid-stream breaks counted by the breaker (5),
// an oversized body closing its connection (8), deeply nested JSON refused with a coded 400 (9),
// client-chosen names kept out of raw header values (10), upstream credentials never relayed to
// tenants (11), and the smaller ones: a malformed model id is a 404, admin answers are not cached.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { CapacityPlan } from '../src/capacity/index.js';
import { ManualClock } from '../src/clock/index.js';
import type { GatewayContext } from '../src/gateway/context.js';
import { forTenant, runFailover } from '../src/gateway/failover.js';
import { servedHeaders } from '../src/gateway/relay-json.js';
import { RequestState } from '../src/gateway/request-state.js';
import type { BoundDeployment } from '../src/gateway/upstreams.js';
import { depthExceeds } from '../src/http/read-body.js';
import { noopTracer } from '../src/observability/index.js';
import { type CatalogDeployment, HealthTracker } from '../src/routing/index.js';
import { eventually } from './helpers/eventually.js';
import { DEMO_KEY, type Stack, startStack } from './helpers/stack.js';

const ADMIN_KEY = 'sk-test-hardening-admin';
const sha = async (k: string) => (await import('node:crypto')).createHash('sha256').update(k).digest('hex');

const deployment: CatalogDeployment = {
  key: 'up/dep',
  upstreamId: 'up',
  deployment: 'dep',
  modelVersion: '1',
  cloud: 'azure',
  region: 'r',
  provider: 'openai',
  weight: 1,
  priority: 0,
  primary: true,
};

test('3: the breaker probe slot is given back when building the request throws', async () => {
  const clock = new ManualClock();
  const health = new HealthTracker({ failureThreshold: 1, cooldownMs: 1000, maxCooldownMs: 8000 });
  health.failure('up/dep', clock.now(), null, 'server');
  clock.advance(1001); // the cooldown is over: the next request takes the single probe slot
  const gw = {
    config: { routing: { maxAttempts: 3, maxRetryAfterMs: 60_000, primaryCloud: 'azure' } },
    clock,
    health,
    bindings: new Map([['up/dep', { deployment } as unknown as BoundDeployment]]),
    events: {},
    metrics: { failovers: { inc() {} } },
    tracer: noopTracer,
    capacity: new CapacityPlan(undefined),
  } as unknown as GatewayContext;
  const state = new RequestState(
    'req_1',
    0,
    clock.now(),
    { keyId: 'k', tenantId: 't', models: null, expiresAtMs: null },
    'chat',
  );
  const plan = { order: [deployment], admitted: { model: { excluded: [] } } } as never;
  await assert.rejects(
    runFailover(gw, state, plan, {
      build: () => {
        throw new RangeError('Maximum call stack size exceeded');
      },
      attempt: () => Promise.reject(new Error('not reached')),
      clientGone: () => false,
    }),
    RangeError,
  );
  const next = health.acquire('up/dep', clock.now());
  assert.deepEqual(next, { available: true, probe: true }, 'the next request may probe the deployment');
});

test('9: nesting is measured without recursion, and hostile depths are caught', () => {
  let deep: unknown = 'x';
  for (let i = 0; i < 100_000; i++) deep = [deep];
  assert.equal(depthExceeds(deep, 64), true);
  assert.equal(depthExceeds({ a: [{ b: [1, 2, { c: null }] }] }, 64), false);
  let wide: unknown = {};
  for (let i = 0; i < 63; i++) wide = { k: wide };
  assert.equal(depthExceeds(wide, 64), false);
  assert.equal(depthExceeds({ k: wide }, 64), true);
});

test('10: warnings naming client-chosen keys become visible ASCII in the header', () => {
  const state = new RequestState(
    'req_2',
    0,
    0,
    { keyId: 'k', tenantId: 't', models: null, expiresAtMs: null },
    'chat',
  );
  const h = servedHeaders(state, { deployment } as unknown as BoundDeployment, 0, {
    method: 'POST',
    path: '/',
    headers: {},
    body: '',
    warnings: ["ignored 'a\r\nx-evil: 1'", "ignored 'ключ'"],
  });
  assert.match(h['x-entente-warnings']!, /^[\x20-\x7e]+$/);
  assert.doesNotMatch(h['x-entente-warnings']!, /\r|\n/);
});

test('11: credentials in upstream messages never reach a tenant', () => {
  const cases = [
    'Incorrect API key provided: sk-proj-abc1**********************xyz9. You can find your API key at …',
    'The security token included in the request is invalid: AKIAIOSFODNN7EXAMPLE',
    'Request had invalid authentication credentials: Bearer ya29.a0AfB_byC-secret-token',
    `token ${'A'.repeat(48)} rejected`,
  ];
  for (const c of cases) {
    const out = forTenant(c);
    assert.match(out, /\[redacted\]/, c);
    assert.doesNotMatch(out, /sk-proj|AKIAIOSFODNN7|ya29\.|A{40}/, c);
  }
  assert.equal(forTenant('Rate limit reached for requests'), 'Rate limit reached for requests');
  assert.equal(forTenant('word '.repeat(1000)).length, 500);
});

describe('hardening through the gateway', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({
      server: `  adminKeySha256: ${await sha(ADMIN_KEY)}\n  bodyLimitBytes: 65536`,
    });
  });
  after(() => stack.close());

  test('5: streams that break mid-way count against the breaker: the primary cools down', async () => {
    const client = new OpenAI({ baseURL: stack.baseURL, apiKey: DEMO_KEY, maxRetries: 0 });
    stack.azure.setFault({ kind: 'cut', afterChunks: 2, count: 2 });
    for (let i = 0; i < 2; i++) {
      const stream = await client.chat.completions.create({
        model: 'gpt-4o',
        stream: true,
        messages: [{ role: 'user', content: 'break me please now' }],
      });
      await assert.rejects(async () => {
        for await (const _ of stream) {
          // reading until the stream's error event
        }
      });
    }
    // failureThreshold is 2: two broken streams open the breaker, so the next goes to OpenAI.
    const { response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'where now' }] })
      .withResponse();
    assert.equal(response.headers.get('x-entente-cloud'), 'openai');
    // The breaker's state is visible: Azure's deployment open, OpenAI's closed.
    const metrics = await (
      await fetch(`${stack.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } })
    ).text();
    assert.match(
      metrics,
      /entente_deployment_breaker_state\{deployment="azure-eastus\/gpt-4o-prod",cloud="azure"\} 1/,
    );
    assert.match(metrics, /entente_deployment_breaker_state\{deployment="openai\/[^"]+",cloud="openai"\} 0/);
  });

  test("11: when every deployment fails, the tenant gets our words, not the upstreams' text", async () => {
    stack.azure.setFault({ kind: 'server_error', count: 1 });
    stack.openai.setFault({ kind: 'server_error', count: 1 });
    const r = await fetch(`${stack.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
    });
    assert.equal(r.status, 502);
    const { error } = (await r.json()) as { error: { code: string; message: string } };
    assert.equal(error.code, 'upstream_error');
    assert.match(error.message, /HTTP 500 \(server\)/);
    assert.doesNotMatch(error.message, /The server had an error/i);
  });

  test('9: a body nested 10,000 deep gets a coded 400 and a usage record, not a 500', async () => {
    const body = `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"metadata":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    const r = await fetch(`${stack.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
      body,
    });
    assert.equal(r.status, 400);
    const json = (await r.json()) as { error: { code: string } };
    assert.equal(json.error.code, 'invalid_request');
    const id = r.headers.get('x-request-id')!;
    await eventually(async () => {
      await stack.gateway.context.usageLog.flush();
      return (await stack.store.listUsage({ requestId: id }))[0]?.errorCode === 'invalid_request';
    }, 'the usage record of the refused request');
  });

  test('8: an oversized chunked body gets 413 and its connection is closed, not wedged', async () => {
    const port = Number(new URL(stack.url).port);
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    let text = '';
    socket.on('data', (d) => {
      text += d.toString();
    });
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${DEMO_KEY}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
    );
    const chunk = 'x'.repeat(16_384);
    for (let i = 0; i < 8; i++) socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
    await closed; // the gateway closes it: no keep-alive connection left waiting
    assert.match(text, /^HTTP\/1\.1 413 /);
    assert.match(text, /connection: close/i);
    assert.match(text, /"code":"body_too_large"/);
  });

  test('13: a malformed model id is a 404; admin answers are neither cached nor sniffed', async () => {
    const r = await fetch(`${stack.baseURL}/models/%ZZ`, {
      headers: { authorization: `Bearer ${DEMO_KEY}` },
    });
    assert.equal(r.status, 404);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'not_found');
    const a = await fetch(`${stack.url}/v1/entente/rollout`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    assert.equal(a.status, 200);
    assert.equal(a.headers.get('cache-control'), 'no-store');
    assert.equal(a.headers.get('x-content-type-options'), 'nosniff');
  });
});

test('4: a blip under 20 concurrent requests opens the breaker once, for the base cooldown', () => {
  const policy = { failureThreshold: 1, cooldownMs: 15_000, maxCooldownMs: 300_000 };
  const health = new HealthTracker(policy);
  const t0 = 1_000_000;
  // 20 requests in flight when the upstream hangs for 1.5 s: all fail within that blip.
  for (let i = 0; i < 20; i++) health.failure('up/dep', t0 + i * 75, null, 'timeout');
  assert.equal(health.snapshot(t0)['up/dep']?.openUntilMs, t0 + 15_000, 'open for one base cooldown');
  // After the cooldown the probe succeeds: back in rotation.
  const probe = health.acquire('up/dep', t0 + 15_001);
  assert.deepEqual(probe, { available: true, probe: true });
  health.success('up/dep');
  assert.deepEqual(health.acquire('up/dep', t0 + 15_002), { available: true, probe: false });
  // Consecutive failed probes do escalate: 15 s, then 30 s.
  health.failure('up/dep', t0 + 20_000, null, 'server');
  assert.ok(health.acquire('up/dep', t0 + 35_001).available);
  health.failure('up/dep', t0 + 35_002, null, 'server');
  assert.equal(health.snapshot(t0)['up/dep']?.openUntilMs, t0 + 35_002 + 30_000);
  // A retry-after longer than the cooldown holds it open that long, without escalating.
  health.failure('up/dep', t0 + 35_003, 120_000, 'rate_limited');
  assert.equal(health.snapshot(t0)['up/dep']?.openUntilMs, t0 + 35_003 + 120_000);
});

describe('7: slow senders are cut', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ server: '  receiveTimeoutMs: 400' });
  });
  after(() => stack.close());

  test('a body that never finishes arriving gets its connection closed, with or without a key', async () => {
    const port = Number(new URL(stack.url).port);
    const slow = (auth: boolean) =>
      new Promise<string>((resolve) => {
        const socket = connect(port, '127.0.0.1');
        let text = '';
        socket.on('data', (d) => {
          text += d.toString();
        });
        socket.once('close', () => resolve(text));
        socket.on('error', () => {});
        socket.write(
          `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n${auth ? `Authorization: Bearer ${DEMO_KEY}\r\n` : ''}Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"model":`,
        );
      });
    const [withKey, withoutKey] = await Promise.all([slow(true), slow(false)]);
    for (const text of [withKey, withoutKey]) assert.doesNotMatch(text, /^HTTP\/1\.1 200/);
    // The gateway still serves everyone else.
    const ok = await fetch(`${stack.url}/healthz`);
    assert.equal(ok.status, 200);
  });
});

test('13: key ids that could forge log fields are refused; the database and spool are private', async () => {
  const { spawnSync } = await import('node:child_process');
  const { mkdtempSync, statSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  const { SqliteStore } = await import('../src/store/index.js');
  const dir = mkdtempSync(join(tmpdir(), 'entente-hard-'));
  const cli = fileURLToPath(new URL('../../bin/entente.js', import.meta.url));
  for (const bad of ['x","tenant":"admin', 'Key With Spaces', 'a\nb', '']) {
    const r = spawnSync(process.execPath, [cli, 'keys', 'create', '--tenant', 'demo', '--id', bad], {
      encoding: 'utf8',
      env: { ...process.env, ENTENTE_DATA_DIR: dir },
    });
    assert.equal(r.status, 2, bad);
    assert.match(r.stderr, /\[cli_usage\] --id/, bad);
  }
  const store = new SqliteStore(join(dir, 'db', 'entente.db'));
  await store.migrate();
  assert.equal(statSync(join(dir, 'db', 'entente.db')).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'db')).mode & 0o777, 0o700);
  await store.close();
});

test('13: a request without a Host header is answered like any other', async () => {
  const stack = await startStack();
  try {
    const port = Number(new URL(stack.url).port);
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (d) => {
      text += d.toString();
    });
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.write('GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n');
    await closed;
    assert.match(text, /^HTTP\/1\.1 200 /);
    assert.match(text, /"status":"ok"/);
  } finally {
    await stack.close();
  }
});

describe('6: timeouts as a budget', () => {
  let azure: import('../sim/index.js').Simulator;
  let openai: import('../sim/index.js').Simulator;
  let gw: import('./helpers/gateway.js').TestGateway;
  const KEY = 'sk-test-budget';

  before(async () => {
    const { startSimulator } = await import('../sim/index.js');
    const { startGatewayFromYaml } = await import('./helpers/gateway.js');
    azure = await startSimulator({ kind: 'azure-openai', apiKey: 'az' });
    openai = await startSimulator({ kind: 'openai', apiKey: 'oa' });
    gw = await startGatewayFromYaml(`
server: { host: 127.0.0.1, port: 0 }
routing: { primaryCloud: azure, maxAttempts: 3, budgetMs: 500, cooldown: { failureThreshold: 100 } }
upstreams:
  - { id: az1, provider: azure-openai, cloud: azure, baseUrl: "${azure.url}", apiVersion: 2024-10-21, auth: { apiKey: az }, headersTimeoutMs: 30000, firstByteTimeoutMs: 300 }
  - { id: az2, provider: azure-openai, cloud: azure2, baseUrl: "${azure.url}", apiVersion: 2024-10-21, auth: { apiKey: az }, headersTimeoutMs: 30000, firstByteTimeoutMs: 300 }
  - { id: oa, provider: openai, cloud: openai, baseUrl: "${openai.url}/v1", auth: { apiKey: oa } }
models:
  - name: m
    deployments:
      - { upstream: az1, deployment: d, modelVersion: "1" }
      - { upstream: oa, deployment: gpt-4o, modelVersion: "1", priority: 10 }
  - name: m-hung-twice
    deployments:
      - { upstream: az1, deployment: d, modelVersion: "1" }
      - { upstream: az2, deployment: d, modelVersion: "1", priority: 5 }
      - { upstream: oa, deployment: gpt-4o, modelVersion: "1", priority: 10 }
tenants:
  - id: t
    keys: [{ id: k, sha256: ${await sha(KEY)}, models: ["*"] }]
`);
  });
  after(async () => {
    await gw.close();
    await Promise.all([azure.close(), openai.close()]);
  });

  test('a hung primary costs the first-byte timeout, not the headers timeout, before failover', async () => {
    azure.setFault({ kind: 'hang', count: 1 });
    const client = new OpenAI({ baseURL: gw.baseURL, apiKey: KEY, maxRetries: 0 });
    const t0 = performance.now();
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hello' }] })
      .withResponse();
    for await (const _ of stream) {
      // read to the end
    }
    const elapsed = performance.now() - t0;
    assert.equal(response.headers.get('x-entente-cloud'), 'openai');
    assert.ok(
      elapsed >= 300 && elapsed < 10_000,
      `${elapsed} ms: within firstByteTimeoutMs, far below headersTimeoutMs (30 s)`,
    );
  });

  test('a primary that sends its headers and then nothing: a first-byte timeout in the attempt log, not a connection failure', async () => {
    azure.setFault({ kind: 'stall', count: 1 });
    const client = new OpenAI({ baseURL: gw.baseURL, apiKey: KEY, maxRetries: 0 });
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hello' }] })
      .withResponse();
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    assert.equal(response.headers.get('x-entente-cloud'), 'openai');
    assert.ok(text.length > 0);
    const rec = await gw.usageOf(response.headers.get('x-request-id'));
    const [stalled, served] = rec.attemptLog!;
    assert.equal(stalled!.deployment, 'az1/d');
    assert.equal(stalled!.outcome, 'timeout');
    assert.equal(stalled!.status, null);
    assert.equal(served!.outcome, 'served');
  });

  test('once the budget is spent no further deployment is tried', async () => {
    azure.setFault({ kind: 'hang', count: 2 });
    const r = await fetch(`${gw.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'm-hung-twice',
        stream: true,
        messages: [{ role: 'user', content: 'x' }],
      }),
    });
    assert.equal(r.status, 504);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'upstream_timeout');
    const rec = await gw.usageOf(r.headers.get('x-request-id'));
    assert.equal(rec.attempts, 2, 'two hung attempts spent the 500 ms budget: OpenAI was not tried');
  });
});

describe('13: the OpenAI-family simulator honours stream_error', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  test('an in-stream error from Azure reaches the client as a coded error event, recorded', async () => {
    stack.azure.setFault({ kind: 'stream_error', afterChunks: 2, count: 1 });
    const r = await fetch(`${stack.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gpt-4o',
        stream: true,
        messages: [{ role: 'user', content: 'a b c d e f' }],
      }),
    });
    const text = await r.text();
    assert.match(text, /data: \{"error":\{[^\n]*"code":"upstream_stream_error"/);
    assert.doesNotMatch(text, /\[DONE\]/);
    const id = r.headers.get('x-request-id')!;
    await stack.gateway.context.usageLog.flush();
    assert.equal((await stack.store.listUsage({ requestId: id }))[0]?.errorCode, 'upstream_stream_error');
  });
});
