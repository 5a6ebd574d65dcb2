// A failed attempt's usage is never billed as the next attempt's. Gemini reports a running usage in
// its chunks; here its stream opens with a chunk that carries usage and no text, then breaks, so
// the client has no byte yet and the gateway fails over. The next cloud (Azure, usage only at the
// end) sends three words and breaks too: the record must bill what the client was sent by that
// attempt (its prompt estimated, one token a delta, inexact), not the figures Gemini reported, which
// go to the attempt log as that attempt's.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { type CloudSimulator, type Simulator, startGoogleSimulator, startSimulator } from '../sim/index.js';
import { estimatePromptTokens } from '../src/canonical/index.js';
import { startGatewayFromYaml, type TestGateway } from './helpers/gateway.js';
import { sha } from './helpers/stack.js';

const KEY = 'sk-test-stale-usage';
let google: CloudSimulator;
let azure: Simulator;
let gw: TestGateway;
let client: OpenAI;

before(async () => {
  google = await startGoogleSimulator({ apiKey: 'ya29.sim-token' });
  azure = await startSimulator({ kind: 'azure-openai', apiKey: 'azure-secret' });
  gw = await startGatewayFromYaml(`
server: { host: 127.0.0.1, port: 0 }
routing: { primaryCloud: google-ai, maxAttempts: 3 }
upstreams:
  - { id: gemini, provider: gemini, cloud: google-ai, baseUrl: "${google.url}", auth: { apiKey: ya29.sim-token } }
  - { id: azure, provider: azure-openai, cloud: azure, region: eastus, baseUrl: "${azure.url}", apiVersion: 2024-10-21, auth: { apiKey: azure-secret } }
models:
  - name: m
    deployments:
      - { upstream: gemini, deployment: gemini-2.5-flash, modelVersion: "1", priority: 1 }
      - { upstream: azure, deployment: gpt-4o-prod, modelVersion: "1", priority: 2 }
tenants:
  - id: t
    keys: [{ id: k, sha256: ${sha(KEY)}, models: ["*"] }]
usage: { batchSize: 50, flushIntervalMs: 20 }
`);
  client = new OpenAI({ baseURL: gw.baseURL, apiKey: KEY, maxRetries: 0 });
});

after(async () => {
  await gw.close();
  await Promise.all([google.close(), azure.close()]);
});

test("a failed attempt's running usage is logged as its own, and the next attempt is billed what it sent", async () => {
  google.settings.leadingUsageChunk = true;
  google.setFault({ kind: 'cut', count: 1, afterChunks: 0 });
  azure.setFault({ kind: 'cut', count: 1, afterChunks: 3 });
  const messages = [{ role: 'user' as const, content: 'Say hello to Paris and to every other city' }];
  const s = await client.chat.completions.create({ model: 'm', messages, stream: true }).withResponse();
  let text = '';
  let deltas = 0;
  await assert.rejects(async () => {
    for await (const chunk of s.data) {
      const t = chunk.choices[0]?.delta.content;
      if (t) {
        text += t;
        deltas++;
      }
    }
  });
  assert.equal(s.response.headers.get('x-entente-cloud'), 'azure');
  assert.ok(deltas > 0, 'the client saw the second attempt begin');

  const rec = await gw.usageOf(s.response.headers.get('x-request-id'));
  const gemini = google.requests.at(-1)!;
  assert.equal(rec.attempts, 2);
  assert.equal(rec.cloud, 'azure');
  assert.equal(rec.errorCode, 'upstream_stream_error');
  // Billed: the serving attempt's figures, counted, not Gemini's report.
  assert.equal(rec.usageExact, false);
  assert.equal(rec.tokensInputUncached, estimatePromptTokens({ messages }));
  assert.equal(rec.tokensInputCached, 0);
  assert.equal(rec.tokensOutput, deltas, text);
  assert.equal(rec.tokensReasoning, 0);
  // Logged: what Gemini reported before it broke, as the failed attempt's own usage.
  const reported = (gemini.usage as { promptTokenCount: number }).promptTokenCount;
  assert.notEqual(reported, rec.tokensInputUncached, 'the two prompt counts differ, so a mix-up would show');
  const [failed, served] = rec.attemptLog!;
  assert.equal(failed!.deployment, 'gemini/gemini-2.5-flash');
  assert.deepEqual(failed!.usage, {
    tokensInputUncached: reported,
    tokensInputCached: 0,
    tokensOutput: 0,
    tokensReasoning: 0,
    exact: true,
  });
  assert.equal(served!.deployment, 'azure/gpt-4o-prod');
});
