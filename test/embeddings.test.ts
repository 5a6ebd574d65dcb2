// POST /v1/embeddings on Azure, OpenAI, Bedrock (Titan) and Vertex AI, judged by the official
// `openai` SDK, which asks for base64 by default and decodes it: the vectors must arrive exactly
// as each simulated cloud computed them, with the usage the cloud reported, and failover must
// move an embeddings request from Azure to Bedrock to Vertex with no error for the client.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import {
  type CloudSimulator,
  SIM_EMBEDDING_DIMS,
  type Simulator,
  simEmbedding,
  startAnthropicSimulator,
  startBedrockSimulator,
  startGoogleSimulator,
  startSimulator,
} from '../sim/index.js';
import type { UsageRecord } from '../src/store/index.js';
import { startGatewayFromYaml, type TestGateway } from './helpers/gateway.js';
import { sha } from './helpers/stack.js';

const KEY = 'sk-test-embeddings';

describe('embeddings on every cloud that serves them, through the openai SDK', () => {
  let azure: Simulator;
  let openai: Simulator;
  let bedrock: CloudSimulator;
  let google: CloudSimulator;
  let anthropic: CloudSimulator;
  let gw: TestGateway;
  let client: OpenAI;

  before(async () => {
    azure = await startSimulator({ kind: 'azure-openai', apiKey: 'az' });
    openai = await startSimulator({ kind: 'openai', apiKey: 'oa' });
    bedrock = await startBedrockSimulator();
    google = await startGoogleSimulator();
    anthropic = await startAnthropicSimulator();
    gw = await startGatewayFromYaml(`
server: { host: 127.0.0.1, port: 0 }
routing: { primaryCloud: azure, maxAttempts: 3, cooldown: { failureThreshold: 1, cooldownMs: 60000 } }
upstreams:
  - { id: azure, provider: azure-openai, cloud: azure, baseUrl: "${azure.url}", apiVersion: 2024-10-21, auth: { apiKey: az } }
  - { id: openai, provider: openai, cloud: openai, baseUrl: "${openai.url}/v1", auth: { apiKey: oa } }
  - { id: bedrock, provider: bedrock, cloud: aws, region: us-east-1, baseUrl: "${bedrock.url}", auth: { awsAccessKeyId: AKID, awsSecretAccessKey: s } }
  - { id: vertex, provider: vertex, cloud: gcp, region: us-central1, project: p, baseUrl: "${google.url}", auth: { apiKey: tok } }
  - { id: anthropic, provider: anthropic, cloud: anthropic, baseUrl: "${anthropic.url}", auth: { apiKey: k } }
models:
  - name: emb
    deployments:
      - { upstream: azure, deployment: te3-small, modelVersion: "1" }
      - { upstream: bedrock, deployment: "amazon.titan-embed-text-v2:0", modelVersion: "1", priority: 10 }
      - { upstream: vertex, deployment: text-embedding-005, modelVersion: "1", priority: 20 }
  - name: emb-openai
    deployments: [{ upstream: openai, deployment: text-embedding-3-small, modelVersion: "1" }]
  - name: emb-bedrock
    deployments: [{ upstream: bedrock, deployment: "amazon.titan-embed-text-v2:0", modelVersion: "1" }]
  - name: emb-vertex
    deployments: [{ upstream: vertex, deployment: text-embedding-005, modelVersion: "1" }]
  - name: claude-only
    deployments: [{ upstream: anthropic, deployment: claude-opus-4-1, modelVersion: "1" }]
tenants:
  - id: t
    keys: [{ id: k, sha256: ${sha(KEY)}, models: ["*"] }]
usage: { batchSize: 50, flushIntervalMs: 20 }
`);
    client = new OpenAI({ baseURL: gw.baseURL, apiKey: KEY, maxRetries: 0 });
  });
  after(async () => {
    await gw.close();
    await Promise.all([azure.close(), openai.close(), bedrock.close(), google.close(), anthropic.close()]);
  });

  const record = (requestId: string | null): Promise<UsageRecord> => gw.usageOf(requestId);

  for (const [model, cloud] of [
    ['emb', 'azure'],
    ['emb-openai', 'openai'],
    ['emb-bedrock', 'aws'],
    ['emb-vertex', 'gcp'],
  ] as const) {
    test(`${model} (${cloud}): base64 by default and float on request, the exact vector, usage recorded`, async () => {
      const { data, response } = await client.embeddings
        .create({ model, input: 'hello embedding world' })
        .withResponse();
      assert.equal(response.headers.get('x-entente-cloud'), cloud);
      assert.equal(data.data.length, 1);
      assert.deepEqual(data.data[0]!.embedding, simEmbedding('hello embedding world', SIM_EMBEDDING_DIMS));
      assert.equal(data.usage.prompt_tokens, 3);
      const rec = await record(response.headers.get('x-request-id'));
      assert.equal(rec.tokensInputUncached, 3);
      assert.equal(rec.tokensOutput, 0);
      assert.equal(rec.usageExact, true);
      assert.equal(rec.cloud, cloud);
      const f = await client.embeddings.create({
        model,
        input: 'hello embedding world',
        encoding_format: 'float',
        dimensions: 8,
      });
      assert.deepEqual(f.data[0]!.embedding, simEmbedding('hello embedding world', 8));
    });
  }

  test('several inputs: one vector each, in order; Bedrock Titan takes one and says so', async () => {
    const input = ['first text', 'the second text', 'third'];
    for (const model of ['emb', 'emb-vertex']) {
      const r = await client.embeddings.create({ model, input });
      assert.deepEqual(
        r.data.map((d) => d.index),
        [0, 1, 2],
      );
      r.data.forEach((d, i) => {
        assert.deepEqual(d.embedding, simEmbedding(input[i]!, SIM_EMBEDDING_DIMS));
      });
      assert.equal(r.usage.prompt_tokens, 2 + 3 + 1);
    }
    await assert.rejects(
      client.embeddings.create({ model: 'emb-bedrock', input }),
      (e: InstanceType<typeof OpenAI.APIError>) =>
        e.status === 400 && e.code === 'unsupported_parameter' && e.param === 'input',
    );
  });

  test('a model only on a provider without embeddings is refused with a coded error', async () => {
    await assert.rejects(
      client.embeddings.create({ model: 'claude-only', input: 'x' }),
      (e: InstanceType<typeof OpenAI.APIError>) => e.status === 400 && e.code === 'unsupported_parameter',
    );
    await assert.rejects(
      client.embeddings.create({ model: 'emb', input: 42 as never }),
      (e: InstanceType<typeof OpenAI.APIError>) =>
        e.status === 400 && e.code === 'invalid_request' && e.param === 'input',
    );
  });

  test('failover: Azure down, then Bedrock throttled; the client sees vectors each time', async () => {
    azure.setFault({ kind: 'server_error' });
    let r = await client.embeddings.create({ model: 'emb', input: 'fail over please' }).withResponse();
    assert.equal(r.response.headers.get('x-entente-cloud'), 'aws');
    assert.deepEqual(r.data.data[0]!.embedding, simEmbedding('fail over please', SIM_EMBEDDING_DIMS));
    assert.equal((await record(r.response.headers.get('x-request-id'))).cloud, 'aws');
    bedrock.setFault({ kind: 'rate_limit' });
    r = await client.embeddings.create({ model: 'emb', input: 'fail over please' }).withResponse();
    assert.equal(r.response.headers.get('x-entente-cloud'), 'gcp');
    assert.deepEqual(r.data.data[0]!.embedding, simEmbedding('fail over please', SIM_EMBEDDING_DIMS));
    azure.setFault(null);
    bedrock.setFault(null);
  });
});
