// Every cloud through the gateway, judged by the official `openai` SDK: Bedrock (Converse and
// Claude via InvokeModel), Vertex AI, the Gemini API, Anthropic (first-party and on Vertex), each
// streaming and not, with tools. Each answer, finish reason and usage record is checked against
// what the simulated cloud itself reported, mapped by the documented rules (providers.md 9.2).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import {
  type CloudSimulator,
  type Simulator,
  startAnthropicSimulator,
  startBedrockSimulator,
  startGoogleSimulator,
  startSimulator,
} from '../sim/index.js';
import { estimatePromptTokens } from '../src/canonical/index.js';
import type { UsageRecord } from '../src/store/index.js';
import { eventually } from './helpers/eventually.js';
import { startGatewayFromYaml, type TestGateway } from './helpers/gateway.js';
import { sha } from './helpers/stack.js';

const KEY = 'sk-test-clouds-key';
type Usage = Pick<
  UsageRecord,
  'tokensInputUncached' | 'tokensInputCached' | 'tokensOutput' | 'tokensReasoning'
>;
type N = Record<string, number | undefined>;
const n = (v: number | undefined) => v ?? 0;

/** The documented mapping from each cloud's native usage to the gateway's disjoint buckets. */
const nativeUsage = {
  bedrock: (u: N): Usage => ({
    tokensInputUncached: n(u.inputTokens) + n(u.cacheWriteInputTokens),
    tokensInputCached: n(u.cacheReadInputTokens),
    tokensOutput: n(u.outputTokens),
    tokensReasoning: 0,
  }),
  google: (u: N): Usage => ({
    tokensInputUncached: n(u.promptTokenCount) - n(u.cachedContentTokenCount),
    tokensInputCached: n(u.cachedContentTokenCount),
    tokensOutput: n(u.candidatesTokenCount),
    tokensReasoning: n(u.thoughtsTokenCount),
  }),
  anthropic: (u: N): Usage => {
    // Thinking is counted within output_tokens; output_tokens_details says how much of it.
    const thinking = n((u.output_tokens_details as unknown as N | undefined)?.thinking_tokens);
    return {
      tokensInputUncached: n(u.input_tokens) + n(u.cache_creation_input_tokens),
      tokensInputCached: n(u.cache_read_input_tokens),
      tokensOutput: n(u.output_tokens) - thinking,
      tokensReasoning: thinking,
    };
  },
};

interface Cloud {
  readonly model: string;
  readonly cloud: string;
  readonly deployment: string;
  readonly sim: () => CloudSimulator;
  readonly usage: (u: N) => Usage;
  /** The cloud reports the prompt's tokens before the stream's end (message_start, running usage). */
  readonly promptFirst: boolean;
}

describe('every cloud through the gateway, judged by the openai SDK', () => {
  let azure: Simulator;
  let bedrock: CloudSimulator;
  let google: CloudSimulator;
  let anthropic: CloudSimulator;
  let gw: TestGateway;
  let client: OpenAI;

  before(async () => {
    azure = await startSimulator({ kind: 'azure-openai', apiKey: 'azure-secret' });
    bedrock = await startBedrockSimulator();
    google = await startGoogleSimulator({ apiKey: 'ya29.sim-token' });
    anthropic = await startAnthropicSimulator({ apiKey: 'sk-ant-secret' });
    const yaml = `
server: { host: 127.0.0.1, port: 0 }
routing:
  primaryCloud: azure
  maxAttempts: 3
  cooldown: { failureThreshold: 1, cooldownMs: 60000, maxCooldownMs: 120000 }
upstreams:
  - { id: azure, provider: azure-openai, cloud: azure, region: eastus, baseUrl: "${azure.url}", apiVersion: 2024-10-21, auth: { apiKey: azure-secret } }
  - id: bedrock
    provider: bedrock
    cloud: aws
    region: us-east-1
    baseUrl: "${bedrock.url}"
    auth: { awsAccessKeyId: AKIDSIM, awsSecretAccessKey: sim-secret }
  - { id: bedrock-claude, provider: anthropic-bedrock, cloud: aws, region: us-west-2, baseUrl: "${bedrock.url}", auth: { awsAccessKeyId: AKIDSIM, awsSecretAccessKey: sim-secret } }
  - { id: vertex, provider: vertex, cloud: gcp, region: us-central1, project: my-proj, baseUrl: "${google.url}", auth: { apiKey: ya29.sim-token } }
  - { id: vertex-claude, provider: anthropic-vertex, cloud: gcp, region: us-east5, project: my-proj, baseUrl: "${google.url}", auth: { apiKey: ya29.sim-token } }
  - { id: gemini, provider: gemini, cloud: google-ai, baseUrl: "${google.url}", auth: { apiKey: ya29.sim-token } }
  - { id: anthropic, provider: anthropic, cloud: anthropic, baseUrl: "${anthropic.url}", auth: { apiKey: sk-ant-secret } }
  - { id: anthropic-new, provider: anthropic, cloud: anthropic, anthropicVersion: 2026-10-21, baseUrl: "${anthropic.url}", auth: { apiKey: sk-ant-secret } }
models:
  - name: m-bedrock
    deployments: [{ upstream: bedrock, deployment: "amazon.nova-pro-v1:0", modelVersion: "1" }]
  - name: m-bedrock-r1
    deployments: [{ upstream: bedrock, deployment: "us.deepseek.r1-v1:0", modelVersion: "1" }]
  - name: m-bedrock-claude
    deployments: [{ upstream: bedrock-claude, deployment: "us.anthropic.claude-sonnet-4-5-20250929-v1:0", modelVersion: "1" }]
  - name: m-vertex
    deployments: [{ upstream: vertex, deployment: gemini-2.5-pro, modelVersion: "1" }]
  - name: m-vertex-claude
    deployments: [{ upstream: vertex-claude, deployment: "claude-sonnet-4-5@20250929", modelVersion: "1" }]
  - name: m-gemini
    deployments: [{ upstream: gemini, deployment: gemini-2.5-flash, modelVersion: "1" }]
  - name: m-anthropic
    deployments: [{ upstream: anthropic, deployment: claude-opus-4-1, modelVersion: "1" }]
  - name: m-anthropic-new
    deployments: [{ upstream: anthropic-new, deployment: claude-opus-4-7, modelVersion: "1" }]
  - name: m-new-then-bedrock
    deployments:
      - { upstream: anthropic-new, deployment: claude-opus-4-7, modelVersion: "1", priority: 1 }
      - { upstream: bedrock, deployment: "amazon.nova-pro-v1:0", modelVersion: "1", priority: 2 }
  - name: gpt-oss-120b
    deployments:
      - { upstream: azure, deployment: gpt-oss-120b, modelVersion: "1" }
      - { upstream: bedrock, deployment: "openai.gpt-oss-120b-1:0", modelVersion: "1", priority: 10 }
      - { upstream: vertex, deployment: gpt-oss-120b-maas, modelVersion: "1", priority: 20 }
tenants:
  - id: t
    keys: [{ id: k, sha256: ${sha(KEY)}, models: ["*"] }]
usage: { batchSize: 50, flushIntervalMs: 20 }
`;
    gw = await startGatewayFromYaml(yaml);
    client = new OpenAI({ baseURL: gw.baseURL, apiKey: KEY, maxRetries: 0 });
  });
  after(async () => {
    await gw.close();
    await Promise.all([azure.close(), bedrock.close(), google.close(), anthropic.close()]);
  });

  const record = (requestId: string | null): Promise<UsageRecord> => gw.usageOf(requestId);
  const buckets = (r: Usage): Usage => ({
    tokensInputUncached: r.tokensInputUncached,
    tokensInputCached: r.tokensInputCached,
    tokensOutput: r.tokensOutput,
    tokensReasoning: r.tokensReasoning,
  });

  const clouds: Cloud[] = [
    {
      model: 'm-bedrock',
      cloud: 'aws',
      deployment: 'amazon.nova-pro-v1:0',
      sim: () => bedrock,
      usage: nativeUsage.bedrock,
      promptFirst: false,
    },
    {
      model: 'm-bedrock-claude',
      cloud: 'aws',
      deployment: 'us.anthropic.claude-sonnet-4-5-20250929-v1:0',
      sim: () => bedrock,
      usage: nativeUsage.anthropic,
      promptFirst: true,
    },
    {
      model: 'm-vertex',
      cloud: 'gcp',
      deployment: 'gemini-2.5-pro',
      sim: () => google,
      usage: nativeUsage.google,
      promptFirst: true,
    },
    {
      model: 'm-vertex-claude',
      cloud: 'gcp',
      deployment: 'claude-sonnet-4-5@20250929',
      sim: () => google,
      usage: nativeUsage.anthropic,
      promptFirst: true,
    },
    {
      model: 'm-gemini',
      cloud: 'gcp',
      deployment: 'gemini-2.5-flash',
      sim: () => google,
      usage: nativeUsage.google,
      promptFirst: true,
    },
    {
      model: 'm-anthropic',
      cloud: 'anthropic',
      deployment: 'claude-opus-4-1',
      sim: () => anthropic,
      usage: nativeUsage.anthropic,
      promptFirst: true,
    },
  ];
  const tools = [
    {
      type: 'function' as const,
      function: {
        name: 'get_weather',
        parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } } },
      },
    },
  ];
  const messages = [
    { role: 'system' as const, content: 'Be brief.' },
    { role: 'user' as const, content: 'Say hello to Paris' },
  ];

  for (const c of clouds) {
    describe(c.model, () => {
      test('JSON: the answer, finish reason, and a usage record equal to what the cloud reported', async () => {
        const { data, response } = await client.chat.completions
          .create({ model: c.model, messages })
          .withResponse();
        const origin = `${c.cloud === 'anthropic' ? 'anthropic' : c.cloud}/${c.deployment}`;
        assert.equal(data.choices[0]!.message.content, `Simulated reply from ${origin}: Say hello to Paris`);
        assert.equal(data.choices[0]!.finish_reason, 'stop');
        assert.equal(data.model, c.model);
        const native = c.sim().requests.at(-1)!;
        assert.equal(native.deployment, c.deployment);
        const rec = await record(response.headers.get('x-request-id')!);
        assert.deepEqual(buckets(rec), c.usage(native.usage as N));
        assert.equal(rec.usageExact, true);
        assert.equal(rec.cloud, response.headers.get('x-entente-cloud'));
        assert.equal(data.usage!.prompt_tokens, rec.tokensInputUncached + rec.tokensInputCached);
        assert.equal(data.usage!.completion_tokens, rec.tokensOutput + rec.tokensReasoning);
      });

      test('stream: the same text, and the usage chunk equal to the record', async () => {
        const { data, response } = await client.chat.completions
          .create({ model: c.model, messages, stream: true, stream_options: { include_usage: true } })
          .withResponse();
        let text = '';
        let finish: string | null = null;
        let usage: OpenAI.CompletionUsage | undefined;
        for await (const chunk of data) {
          text += chunk.choices[0]?.delta.content ?? '';
          finish = chunk.choices[0]?.finish_reason ?? finish;
          if (chunk.usage) usage = chunk.usage;
        }
        assert.match(text, /^Simulated reply from .+: Say hello to Paris$/);
        assert.equal(finish, 'stop');
        const rec = await record(response.headers.get('x-request-id')!);
        assert.deepEqual(buckets(rec), c.usage(c.sim().requests.at(-1)!.usage as N));
        assert.ok(usage);
        assert.equal(usage.prompt_tokens, rec.tokensInputUncached + rec.tokensInputCached);
        assert.equal(usage.completion_tokens, rec.tokensOutput + rec.tokensReasoning);
      });

      test('a client that hangs up mid-stream is billed its prompt and the output it was sent', async () => {
        // A long prompt (the reply echoes it), paced so that the hang-up lands mid-way.
        const ask = [
          { role: 'user' as const, content: Array.from({ length: 40 }, (_, i) => `w${i}`).join(' ') },
        ];
        const { seen, rec } = await hangUp(c.sim(), { model: c.model, messages: ask });
        const whole = c.usage(c.sim().requests.at(-1)!.usage as N);
        assert.equal(rec.status, 499);
        assert.equal(rec.errorCode, 'client_closed');
        assert.equal(rec.usageExact, false);
        // The prompt as the cloud reported it at the start, where it does; else the estimate.
        assert.deepEqual(
          [rec.tokensInputUncached, rec.tokensInputCached],
          c.promptFirst
            ? [whole.tokensInputUncached, whole.tokensInputCached]
            : [estimatePromptTokens({ messages: ask }), 0],
        );
        assert.ok(
          rec.tokensOutput >= seen,
          `${rec.tokensOutput} output tokens, the client read ${seen} chunks`,
        );
        assert.ok(rec.tokensOutput < whole.tokensOutput, 'not billed the answer it never got');
      });

      test('tools: a call whole and streamed; the result goes back to the cloud', async () => {
        const ask = [{ role: 'user' as const, content: 'Weather in Paris' }];
        const r = await client.chat.completions.create({ model: c.model, messages: ask, tools });
        assert.equal(r.choices[0]!.finish_reason, 'tool_calls');
        const call = r.choices[0]!.message.tool_calls![0]!;
        assert.ok(call.type === 'function');
        assert.equal(call.function.name, 'get_weather');
        assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Weather', days: 42 });

        const stream = client.chat.completions.stream({ model: c.model, messages: ask, tools });
        const final = await stream.finalChatCompletion();
        const sc = final.choices[0]!.message.tool_calls![0]!;
        assert.ok(sc.type === 'function');
        assert.deepEqual(JSON.parse(sc.function.arguments), { city: 'Weather', days: 42 });
        assert.equal(final.choices[0]!.finish_reason, 'tool_calls');

        // The tool result goes back, keyed by the call's id; the cloud then answers in text.
        const next = await client.chat.completions.create({
          model: c.model,
          tools,
          messages: [
            ...ask,
            { role: 'assistant', content: null, tool_calls: [call] },
            { role: 'tool', tool_call_id: call.id, content: '{"temp":21}' },
          ],
        });
        assert.equal(next.choices[0]!.finish_reason, 'stop');
      });
    });
  }

  test('the Responses API on Bedrock, Vertex and Anthropic: create and the strict stream helper', async () => {
    for (const c of [clouds[0]!, clouds[2]!, clouds[5]!]) {
      const r = await client.responses.create({ model: c.model, input: 'Say hello to Paris' });
      assert.equal(r.status, 'completed');
      assert.match(r.output_text, /^Simulated reply from .+: Say hello to Paris$/);
      const native = c.usage(c.sim().requests.at(-1)!.usage as N);
      assert.equal(r.usage!.input_tokens, native.tokensInputUncached + native.tokensInputCached);
      assert.equal(r.usage!.output_tokens, native.tokensOutput + native.tokensReasoning);
      const s = client.responses.stream({
        model: c.model,
        input: 'Weather in Paris',
        tools: [
          { type: 'function', name: 'get_weather', strict: false, parameters: tools[0]!.function.parameters },
        ],
      });
      const final = await s.finalResponse();
      const call = final.output.find((o) => o.type === 'function_call');
      assert.ok(call && call.type === 'function_call', c.model);
      assert.deepEqual(JSON.parse(call.arguments), { city: 'Weather', days: 42 });
      assert.ok(final.usage && final.usage.output_tokens > 0);
    }
  });

  test('Vertex: reasoning_effort becomes a thinking budget; thought tokens are reasoning tokens', async () => {
    const { response } = await client.chat.completions
      .create({ model: 'm-vertex', messages, reasoning_effort: 'high' })
      .withResponse();
    const rec = await record(response.headers.get('x-request-id')!);
    assert.equal(rec.tokensReasoning, 32);
    const body = google.requests.at(-1)!.body as { generationConfig: { thinkingConfig: unknown } };
    assert.deepEqual(body.generationConfig.thinkingConfig, { thinkingBudget: 24_576 });
  });

  test('Claude: extended thinking is not shown, and is billed as reasoning, whole and when the client hangs up', async () => {
    for (const c of clouds.filter((x) => x.usage === nativeUsage.anthropic)) {
      // reasoning_effort 'high' becomes Anthropic's effort: the simulator thinks 32 tokens first.
      const ask = { model: c.model, messages, reasoning_effort: 'high' as const };
      const { data, response } = await client.chat.completions.create(ask).withResponse();
      assert.match(data.choices[0]!.message.content!, /^Simulated reply from .+: Say hello to Paris$/);
      const whole = c.usage(c.sim().requests.at(-1)!.usage as N);
      assert.equal(whole.tokensReasoning, 32, c.model);
      assert.deepEqual(buckets(await record(response.headers.get('x-request-id'))), whole);

      // Streamed and left after three words: the thinking came first and was all sent upstream's
      // side (none of it to the client), so the record bills every thinking delta as reasoning.
      const { seen, text, rec } = await hangUp(c.sim(), ask);
      assert.doesNotMatch(text, /thought/, 'no thinking reaches the client');
      assert.equal(rec.errorCode, 'client_closed', c.model);
      assert.equal(rec.tokensReasoning, whole.tokensReasoning, `${c.model}: one token per thinking delta`);
      assert.ok(rec.tokensOutput >= seen && rec.tokensOutput < whole.tokensOutput, c.model);
    }
  });

  test('Claude: a client that leaves while the cloud is still thinking is billed the prompt and the thinking so far', async () => {
    // 64 thoughts at 50 a second: the client has had no byte yet when it leaves, 10 events in.
    anthropic.settings.tokensPerSecond = 50;
    try {
      await gw.gateway.context.usageLog.flush();
      const earlier = new Set((await gw.store.listUsage({ limit: 1000 })).map((r) => r.requestId));
      const ac = new AbortController();
      const seen = anthropic.requests.length;
      const pending = fetch(`${gw.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'm-anthropic', messages, stream: true, reasoning_effort: 'xhigh' }),
        signal: ac.signal,
      });
      const native = await eventually(
        () => ((anthropic.requests[seen]?.eventsSent ?? 0) >= 10 ? anthropic.requests[seen] : null),
        'ten events of the thinking sent',
      );
      ac.abort();
      await assert.rejects(pending, 'no byte had reached the client');
      const rec = await eventually(async () => {
        await gw.gateway.context.usageLog.flush();
        return (await gw.store.listUsage({ limit: 1000 })).find((r) => !earlier.has(r.requestId));
      }, 'the record of the client that left');
      const whole = nativeUsage.anthropic(native.usage as N);
      assert.deepEqual([rec.model, rec.status, rec.errorCode], ['m-anthropic', 499, 'client_closed']);
      assert.deepEqual([rec.tokensInputUncached, rec.tokensInputCached], [whole.tokensInputUncached, 0]);
      assert.equal(rec.tokensOutput, 0, 'no answer was sent');
      assert.ok(
        rec.tokensReasoning >= 1 && rec.tokensReasoning < 64,
        `${rec.tokensReasoning} thinking deltas`,
      );
    } finally {
      anthropic.settings.tokensPerSecond = 0;
    }
  });

  test("Bedrock: a reasoning model's reasoning is not shown, and is billed when the client hangs up", async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'm-bedrock-r1', messages })
      .withResponse();
    assert.match(
      data.choices[0]!.message.content!,
      /^Simulated reply from aws\/us\.deepseek\.r1-v1:0: Say hello/,
    );
    // Converse counts reasoning inside outputTokens, with no split: the record has it as output.
    const whole = nativeUsage.bedrock(bedrock.requests.at(-1)!.usage as N);
    assert.deepEqual(buckets(await record(response.headers.get('x-request-id'))), whole);
    const { seen, text, rec } = await hangUp(bedrock, { model: 'm-bedrock-r1', messages });
    assert.doesNotMatch(text, /thought/, 'no reasoning reaches the client');
    assert.equal(rec.errorCode, 'client_closed');
    // The 16 reasoning deltas all came before the answer's first word.
    assert.equal(rec.tokensReasoning, 16);
    assert.ok(rec.tokensOutput >= seen && rec.tokensOutput + rec.tokensReasoning < whole.tokensOutput);
  });

  test('a parameter a provider cannot honour: the next deployment serves, or a coded 400', async () => {
    // Anthropic API 2026-10-21 has no temperature: with nowhere else to go, the request is refused.
    await assert.rejects(
      client.chat.completions.create({ model: 'm-anthropic-new', messages, temperature: 0.3 }),
      (e: InstanceType<typeof OpenAI.APIError>) =>
        e.status === 400 && e.code === 'unsupported_parameter' && e.param === 'temperature',
    );
    // With a Bedrock deployment behind it, Bedrock serves, and says what it ignored.
    const { data, response } = await client.chat.completions
      .create({ model: 'm-new-then-bedrock', messages, temperature: 0.3, seed: 7 })
      .withResponse();
    assert.equal(response.headers.get('x-entente-cloud'), 'aws');
    assert.match(response.headers.get('x-entente-warnings') ?? '', /seed/);
    assert.ok(data.choices[0]!.message.content);
    await assert.rejects(
      client.chat.completions.create({ model: 'm-bedrock', messages, n: 2 }),
      (e: InstanceType<typeof OpenAI.APIError>) =>
        e.status === 400 && e.code === 'unsupported_parameter' && e.param === 'n',
    );
  });

  test('one model on Azure, Bedrock and Vertex: with Azure down, then Bedrock too, no error reaches the client', async () => {
    const ask = { model: 'gpt-oss-120b', messages };
    let r = await client.chat.completions.create(ask).withResponse();
    assert.equal(r.response.headers.get('x-entente-cloud'), 'azure');

    azure.setFault({ kind: 'server_error' });
    r = await client.chat.completions.create(ask).withResponse();
    assert.equal(r.response.headers.get('x-entente-cloud'), 'aws');
    assert.match(r.data.choices[0]!.message.content!, /^Simulated reply from aws\/openai\.gpt-oss-120b-1:0/);
    let rec = await record(r.response.headers.get('x-request-id')!);
    assert.equal(rec.cloud, 'aws');
    assert.equal(rec.deployment, 'openai.gpt-oss-120b-1:0');
    assert.deepEqual(buckets(rec), nativeUsage.bedrock(bedrock.requests.at(-1)!.usage as N));

    bedrock.setFault({ kind: 'rate_limit', retryAfterS: 30 });
    const s = await client.chat.completions.create({ ...ask, stream: true }).withResponse();
    let text = '';
    for await (const chunk of s.data) text += chunk.choices[0]?.delta.content ?? '';
    assert.equal(s.response.headers.get('x-entente-cloud'), 'gcp');
    assert.match(text, /^Simulated reply from gcp\/gpt-oss-120b-maas/);
    rec = await record(s.response.headers.get('x-request-id')!);
    assert.equal(rec.cloud, 'gcp');
    assert.deepEqual(buckets(rec), nativeUsage.google(google.requests.at(-1)!.usage as N));
    azure.setFault(null);
    bedrock.setFault(null);
  });

  /**
   * Streams `params` from `sim` paced at 200 tokens a second, so that the client leaves mid-way,
   * after three content chunks: the chunks and text it read, and the record of the request.
   */
  async function hangUp(
    sim: CloudSimulator,
    params: Omit<OpenAI.ChatCompletionCreateParamsStreaming, 'stream'>,
  ) {
    sim.settings.tokensPerSecond = 200;
    try {
      const s = await client.chat.completions.create({ ...params, stream: true }).withResponse();
      let seen = 0;
      let text = '';
      // Leaving the loop aborts the request (the SDK's stream closes its connection).
      for await (const chunk of s.data) {
        const t = chunk.choices[0]?.delta.content;
        if (!t) continue;
        text += t;
        if (++seen === 3) break;
      }
      const id = s.response.headers.get('x-request-id')!;
      // The gateway hears of the hang-up on its own time.
      const rec = await eventually(() => record(id).catch(() => null), 'the hang-up recorded');
      return { seen, text, rec };
    } finally {
      sim.settings.tokensPerSecond = 0;
    }
  }

  /** Streams `model` while its cloud cuts the stream; the text the client read and the record. */
  async function readCut(model: string) {
    const s = await client.chat.completions.create({ model, messages, stream: true }).withResponse();
    let text = '';
    let deltas = 0;
    await assert.rejects(async () => {
      for await (const chunk of s.data) {
        const t = chunk.choices[0]?.delta.content ?? '';
        text += t;
        if (t) deltas++;
      }
    });
    return { text, deltas, rec: await record(s.response.headers.get('x-request-id')!) };
  }

  // Before the Bedrock cut below, which cools Bedrock's deployment down for a minute; this one
  // cools anthropic-new's down, which no later test uses.
  test("a Claude stream cut before the client's first byte: the next cloud serves and is billed, the failed attempt's usage is logged", async () => {
    anthropic.setFault({ kind: 'cut', count: 1, afterChunks: 0 });
    const s = await client.chat.completions
      .create({
        model: 'm-new-then-bedrock',
        messages,
        stream: true,
        stream_options: { include_usage: true },
      })
      .withResponse();
    let text = '';
    for await (const chunk of s.data) text += chunk.choices[0]?.delta.content ?? '';
    assert.equal(s.response.headers.get('x-entente-cloud'), 'aws');
    assert.match(text, /^Simulated reply from aws\/amazon\.nova-pro-v1:0/);
    const rec = await record(s.response.headers.get('x-request-id')!);
    // Billed: the attempt that served, exactly as Bedrock reported it.
    assert.equal(rec.cloud, 'aws');
    assert.equal(rec.usageExact, true);
    assert.deepEqual(buckets(rec), nativeUsage.bedrock(bedrock.requests.at(-1)!.usage as N));
    // Logged: Claude had reported the prompt in its message_start before the cut; nothing was sent.
    const claude = nativeUsage.anthropic(anthropic.requests.at(-1)!.usage as N);
    assert.equal(rec.attempts, 2);
    const [failed, served] = rec.attemptLog!;
    assert.equal(failed!.deployment, 'anthropic-new/claude-opus-4-7');
    assert.deepEqual(failed!.usage, {
      tokensInputUncached: claude.tokensInputUncached,
      tokensInputCached: claude.tokensInputCached,
      tokensOutput: 0,
      tokensReasoning: 0,
      exact: false,
    });
    assert.equal(served!.outcome, 'served');
    assert.equal(served!.usage, undefined);
    // And counted for the operator's dashboards, by cloud and bucket.
    const counted = gw.gateway.context.metrics.failedAttemptTokens;
    assert.equal(counted.get({ cloud: 'anthropic', type: 'input_uncached' }), claude.tokensInputUncached);
    assert.equal(counted.get({ cloud: 'anthropic', type: 'output' }), 0);
  });

  test('a stream cut mid-way on Bedrock becomes an error event, billed the prompt and what was sent', async () => {
    bedrock.setFault({ kind: 'cut', count: 1, afterChunks: 3 });
    const { text, deltas, rec } = await readCut('m-bedrock');
    assert.ok(text.length > 0, 'the client saw the first chunks');
    assert.equal(rec.errorCode, 'upstream_stream_error');
    assert.equal(rec.usageExact, false);
    // Converse reports usage only at the end: the prompt is estimated, the output counted.
    assert.equal(rec.tokensInputUncached, estimatePromptTokens({ messages }));
    assert.equal(rec.tokensOutput, deltas);
  });

  test('a Claude stream cut mid-way is billed the prompt its message_start reported', async () => {
    anthropic.setFault({ kind: 'cut', count: 1, afterChunks: 4 });
    const { deltas, rec } = await readCut('m-anthropic');
    assert.ok(deltas > 0, 'the client saw the first deltas');
    assert.equal(rec.errorCode, 'upstream_stream_error');
    const whole = nativeUsage.anthropic(anthropic.requests.at(-1)!.usage as N);
    assert.deepEqual(
      [rec.tokensInputUncached, rec.tokensInputCached, rec.tokensOutput],
      [whole.tokensInputUncached, whole.tokensInputCached, deltas],
    );
  });

  test('a Gemini stream cut mid-way is recorded with the running usage of the last chunk it sent', async () => {
    // Five chunks, each with the output so far: all but the first read by the shape learnt from it.
    google.setFault({ kind: 'cut', count: 1, afterChunks: 5 });
    const { text, rec } = await readCut('m-gemini');
    assert.equal(text.split(' ').length, 5, `the client saw five words: ${text}`);
    assert.equal(rec.errorCode, 'upstream_stream_error');
    const whole = google.requests.at(-1)!.usage as N;
    assert.equal(rec.tokensInputUncached, n(whole.promptTokenCount));
    assert.equal(rec.tokensOutput, 5, 'candidatesTokenCount of the fifth chunk');
  });
});
