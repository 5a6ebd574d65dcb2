// Embeddings run through the same failover loop as chat. Three behaviours the old copy of the loop
// had lost, each checked here: a failover is announced (event and metric), a client that left is
// not served by the next deployment, and upstream spans are named for the operation.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { type Simulator, startSimulator } from '../sim/index.js';
import type { CatalogDeployment } from '../src/routing/index.js';
import { eventually } from './helpers/eventually.js';
import { startGatewayFromYaml, type TestGateway } from './helpers/gateway.js';
import { sha } from './helpers/stack.js';

const KEY = 'sk-test-embeddings-pipeline';

interface OtlpSpan {
  readonly traceId: string;
  readonly name: string;
  readonly kind: number;
  readonly attributes: { key: string; value: Record<string, unknown> }[];
}

const attr = (s: OtlpSpan, k: string) => {
  const v = s.attributes.find((a) => a.key === k)?.value;
  return v ? Object.values(v)[0] : undefined;
};

describe('embeddings share the failover loop', () => {
  let azure: Simulator;
  let openai: Simulator;
  let gw: TestGateway;
  let client: OpenAI;
  let collector: Server;
  const spans: OtlpSpan[] = [];
  const failovers: { key: string; reason: string }[] = [];

  before(async () => {
    collector = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as {
          resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[];
        };
        for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    const otlpPort = (collector.address() as AddressInfo).port;
    azure = await startSimulator({ kind: 'azure-openai', apiKey: 'az' });
    openai = await startSimulator({ kind: 'openai', apiKey: 'oa' });
    gw = await startGatewayFromYaml(
      `
server: { host: 127.0.0.1, port: 0 }
routing: { primaryCloud: azure, maxAttempts: 3, cooldown: { failureThreshold: 100, cooldownMs: 60000 } }
upstreams:
  - { id: azure, provider: azure-openai, cloud: azure, baseUrl: "${azure.url}", apiVersion: 2024-10-21, auth: { apiKey: az }, headersTimeoutMs: 400 }
  - { id: openai, provider: openai, cloud: openai, baseUrl: "${openai.url}/v1", auth: { apiKey: oa } }
models:
  - name: emb
    deployments:
      - { upstream: azure, deployment: te3-small, modelVersion: "1" }
      - { upstream: openai, deployment: text-embedding-3-small, modelVersion: "1", priority: 10 }
tenants:
  - id: t
    keys: [{ id: k, sha256: ${sha(KEY)}, models: ["*"] }]
usage: { batchSize: 50, flushIntervalMs: 20 }
observability: { otlp: { endpoint: "http://127.0.0.1:${otlpPort}", flushIntervalMs: 20 } }
`,
      undefined,
      {
        events: {
          onFailover: (d: CatalogDeployment, reason: string) => failovers.push({ key: d.key, reason }),
        },
      },
    );
    client = new OpenAI({ baseURL: gw.baseURL, apiKey: KEY, maxRetries: 0 });
  });
  after(async () => {
    await gw.close();
    await Promise.all([azure.close(), openai.close()]);
    collector.close();
  });

  test('a failover is announced: the failover event fires and the metric counts it', async () => {
    failovers.length = 0;
    azure.setFault({ kind: 'server_error', count: 1 });
    const r = await client.embeddings.create({ model: 'emb', input: 'announce me' }).withResponse();
    assert.equal(r.response.headers.get('x-entente-cloud'), 'openai');
    assert.deepEqual(failovers, [{ key: 'azure/te3-small', reason: 'server' }]);
    const text = gw.gateway.context.metrics.registry.render();
    assert.match(text, /entente_failovers_total\{cloud="azure",reason="server"\} 1/);
  });

  test('upstream spans are named for embeddings, not chat', async () => {
    const { response } = await client.embeddings.create({ model: 'emb', input: 'trace me' }).withResponse();
    const requestId = response.headers.get('x-request-id');
    await gw.gateway.context.tracer.flush();
    const server = spans.find((s) => s.kind === 2 && attr(s, 'entente.request_id') === requestId)!;
    assert.equal(attr(server, 'gen_ai.operation.name'), 'embeddings');
    const attempts = spans.filter((s) => s.kind === 3 && s.traceId === server.traceId);
    assert.equal(attempts.length, 1);
    assert.equal(attempts[0]!.name, 'embeddings te3-small');
    assert.equal(attr(attempts[0]!, 'gen_ai.operation.name'), 'embeddings');
  });

  test('a client that left while the primary failed is not served by the next deployment', async () => {
    const servedBefore = openai.requests.length;
    const seenBefore = azure.requests.length;
    azure.setFault({ kind: 'hang', count: 1 });
    const ac = new AbortController();
    const pending = client.embeddings.create({ model: 'emb', input: 'leave early' }, { signal: ac.signal });
    await eventually(() => azure.requests.length > seenBefore, 'the primary to receive the request');
    ac.abort();
    await assert.rejects(pending);
    // The primary times out (headersTimeoutMs); the loop must then see the client gone and stop.
    const rows = await eventually(async () => {
      await gw.gateway.context.usageLog.flush();
      const all = await gw.store.listUsage({ limit: 10 });
      return all.find((u) => u.errorCode === 'client_closed');
    }, 'the usage record of the abandoned request');
    assert.equal(rows.status, 499);
    assert.equal(rows.attempts, 1);
    assert.equal(openai.requests.length, servedBefore, 'no request went to the next deployment');
  });
});
