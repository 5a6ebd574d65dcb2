// The Bedrock, Google and Anthropic simulators judged by each cloud's official SDK: the AWS SDK
// with its default HTTP/2 handler, @google/genai in Gemini and Vertex modes, @anthropic-ai/sdk.
// If the SDKs accept the bytes (text, streams, tool calls, 429 and 500, a stream cut or failing
// mid-way), the simulators are faithful enough for the gateway tests that rely on them.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import Anthropic from '@anthropic-ai/sdk';
import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelWithResponseStreamCommand,
} from '@aws-sdk/client-bedrock-runtime';
import { GoogleGenAI } from '@google/genai';
import { OAuth2Client } from 'google-auth-library';
import {
  type CloudSimulator,
  startAnthropicSimulator,
  startBedrockSimulator,
  startGoogleSimulator,
} from '../sim/index.js';
import { systemClock } from '../src/clock/index.js';

const SYSTEM = 'Be brief.';
const USER = 'Say hello to Paris';
// prompt = 3 + (3 + 2 system words) + (3 + 4 user words); the reply has 8 words.
const PROMPT = 15;
const weatherSchema = {
  type: 'object',
  properties: { city: { type: 'string' }, days: { type: 'integer' } },
  required: ['city'],
};

async function rejects(p: Promise<unknown>, check: (e: Record<string, unknown>) => void) {
  try {
    await p;
  } catch (e) {
    check(e as Record<string, unknown>);
    return;
  }
  assert.fail('expected the SDK to throw');
}

describe('Bedrock simulator, judged by @aws-sdk/client-bedrock-runtime (default HTTP/2 handler)', () => {
  let sim: CloudSimulator;
  let client: BedrockRuntimeClient;
  const modelId = 'anthropic.claude-sonnet-4-5-20250929-v1:0';
  before(async () => {
    sim = await startBedrockSimulator();
    client = new BedrockRuntimeClient({
      region: 'us-east-1',
      endpoint: sim.url,
      credentials: { accessKeyId: 'AKIDSIM', secretAccessKey: 'sim-secret' },
      maxAttempts: 1,
    });
  });
  after(async () => {
    client.destroy();
    await sim.close();
  });

  const input = {
    modelId,
    system: [{ text: SYSTEM }],
    messages: [{ role: 'user' as const, content: [{ text: USER }] }],
  };

  test('Converse: text, stop reason and usage; SigV4 over HTTP/2; the model id decoded', async () => {
    const r = await client.send(new ConverseCommand(input));
    const text = r.output?.message?.content?.[0]?.text;
    assert.equal(text, `Simulated reply from aws/${modelId}: ${USER}`);
    assert.equal(r.stopReason, 'end_turn');
    assert.deepEqual(
      { i: r.usage?.inputTokens, o: r.usage?.outputTokens, t: r.usage?.totalTokens },
      { i: PROMPT, o: 8, t: PROMPT + 8 },
    );
    const rec = sim.requests.at(-1)!;
    assert.equal(rec.deployment, modelId);
    assert.match(String(rec.url), /%3A0\/converse$/, 'the AWS SDK percent-encodes the colon');
    assert.match(
      String(rec.headers.authorization),
      /^AWS4-HMAC-SHA256 Credential=AKIDSIM\/\d{8}\/us-east-1\/bedrock/,
    );
    assert.ok(rec.headers[':authority'], 'the SDK spoke HTTP/2');
  });

  test('ConverseStream: binary event stream with CRCs, deltas, stop and metadata', async () => {
    const r = await client.send(new ConverseStreamCommand(input));
    let text = '';
    const kinds: string[] = [];
    let usage: { inputTokens?: number; outputTokens?: number } | undefined;
    for await (const ev of r.stream!) {
      kinds.push(Object.keys(ev).find((k) => (ev as unknown as Record<string, unknown>)[k] !== undefined)!);
      if (ev.contentBlockDelta?.delta?.text) text += ev.contentBlockDelta.delta.text;
      if (ev.metadata) usage = ev.metadata.usage;
    }
    assert.equal(text, `Simulated reply from aws/${modelId}: ${USER}`);
    assert.equal(kinds[0], 'messageStart');
    assert.deepEqual(kinds.slice(-3), ['contentBlockStop', 'messageStop', 'metadata']);
    assert.deepEqual(usage && { i: usage.inputTokens, o: usage.outputTokens }, { i: PROMPT, o: 8 });
  });

  test('DeepSeek-R1: a reasoning block before the answer, counted in outputTokens, whole and streamed', async () => {
    const r1 = { ...input, modelId: 'us.deepseek.r1-v1:0' };
    const r = await client.send(new ConverseCommand(r1));
    const [reasoning, answer] = r.output?.message?.content ?? [];
    assert.equal(reasoning?.reasoningContent?.reasoningText?.text?.split(' ').length, 16);
    assert.equal(answer?.text, `Simulated reply from aws/${r1.modelId}: ${USER}`);
    assert.equal(r.usage?.outputTokens, 8 + 16);
    const s = await client.send(new ConverseStreamCommand(r1));
    let thought = '';
    let text = '';
    for await (const ev of s.stream!) {
      thought += ev.contentBlockDelta?.delta?.reasoningContent?.text ?? '';
      text += ev.contentBlockDelta?.delta?.text ?? '';
    }
    assert.equal(thought, reasoning?.reasoningContent?.reasoningText?.text);
    assert.equal(text, answer?.text);
  });

  test('tool calls, whole and streamed', async () => {
    const toolConfig = {
      tools: [{ toolSpec: { name: 'get_weather', inputSchema: { json: weatherSchema } } }],
      toolChoice: { auto: {} },
    };
    const messages = [{ role: 'user' as const, content: [{ text: 'Weather in Paris' }] }];
    const r = await client.send(new ConverseCommand({ modelId, messages, toolConfig }));
    assert.equal(r.stopReason, 'tool_use');
    const use = r.output?.message?.content?.[0]?.toolUse;
    assert.equal(use?.name, 'get_weather');
    assert.deepEqual(use?.input, { city: 'Weather', days: 42 });
    const s = await client.send(new ConverseStreamCommand({ modelId, messages, toolConfig }));
    let args = '';
    let name = '';
    let stop = '';
    for await (const ev of s.stream!) {
      if (ev.contentBlockStart?.start?.toolUse) name = ev.contentBlockStart.start.toolUse.name!;
      if (ev.contentBlockDelta?.delta?.toolUse) args += ev.contentBlockDelta.delta.toolUse.input;
      if (ev.messageStop) stop = ev.messageStop.stopReason!;
    }
    assert.equal(name, 'get_weather');
    assert.deepEqual(JSON.parse(args), { city: 'Weather', days: 42 });
    assert.equal(stop, 'tool_use');
  });

  test('InvokeModelWithResponseStream: Claude events as base64 chunks', async () => {
    const body = JSON.stringify({
      anthropic_version: 'bedrock-2023-05-31',
      max_tokens: 100,
      messages: [{ role: 'user', content: USER }],
    });
    const r = await client.send(new InvokeModelWithResponseStreamCommand({ modelId, body }));
    const types: string[] = [];
    for await (const ev of r.body!) {
      const e = JSON.parse(Buffer.from(ev.chunk!.bytes!).toString('utf8')) as { type: string };
      types.push(e.type);
    }
    assert.equal(types[0], 'message_start');
    assert.equal(types.at(-1), 'message_stop');
  });

  test('429 and 500 surface as the modelled exceptions', async () => {
    sim.setFault({ kind: 'rate_limit', count: 1 });
    await rejects(client.send(new ConverseCommand(input)), (e) => {
      assert.equal(e.name, 'ThrottlingException');
      assert.equal((e.$metadata as { httpStatusCode: number }).httpStatusCode, 429);
    });
    sim.setFault({ kind: 'server_error', count: 1 });
    await rejects(client.send(new ConverseCommand(input)), (e) =>
      assert.equal(e.name, 'InternalServerException'),
    );
  });

  test('a stream failing mid-way: in-stream throttlingException, and a cut connection', async () => {
    sim.setFault({ kind: 'stream_error', count: 1, afterChunks: 2 });
    const r = await client.send(new ConverseStreamCommand(input));
    let deltas = 0;
    await rejects(
      (async () => {
        for await (const ev of r.stream!) if (ev.contentBlockDelta) deltas++;
      })(),
      (e) => assert.equal(e.name, 'ThrottlingException'),
    );
    assert.equal(deltas, 2);
    sim.setFault({ kind: 'cut', count: 1, afterChunks: 2 });
    const c = await client.send(new ConverseStreamCommand(input));
    await rejects(
      (async () => {
        for await (const _ of c.stream!) {
        }
      })(),
      () => {},
    );
  });
});

for (const mode of ['gemini', 'vertex'] as const) {
  describe(`Google simulator in ${mode} mode, judged by @google/genai`, () => {
    let sim: CloudSimulator;
    let ai: GoogleGenAI;
    before(async () => {
      sim = await startGoogleSimulator();
      if (mode === 'gemini') {
        ai = new GoogleGenAI({ apiKey: 'gemini-key', httpOptions: { baseUrl: sim.url } });
      } else {
        const authClient = new OAuth2Client();
        authClient.setCredentials({
          access_token: 'ya29.sim-token',
          expiry_date: systemClock.now() + 3_600_000,
        });
        ai = new GoogleGenAI({
          vertexai: true,
          project: 'my-proj',
          location: 'us-central1',
          httpOptions: { baseUrl: sim.url },
          googleAuthOptions: { authClient },
        });
      }
    });
    after(() => sim.close());
    const req = {
      model: 'gemini-2.5-flash',
      contents: USER,
      config: { systemInstruction: SYSTEM },
    };

    test('generateContent: text, finish reason, usage; the path of the mode', async () => {
      const r = await ai.models.generateContent(req);
      assert.equal(r.text, `Simulated reply from gcp/gemini-2.5-flash: ${USER}`);
      assert.equal(r.candidates?.[0]?.finishReason, 'STOP');
      assert.equal(r.usageMetadata?.promptTokenCount, PROMPT);
      assert.equal(r.usageMetadata?.candidatesTokenCount, 8);
      const rec = sim.requests.at(-1)!;
      if (mode === 'gemini') {
        assert.match(rec.url, /^\/v1beta\/models\/gemini-2\.5-flash:generateContent/);
        assert.equal(rec.headers['x-goog-api-key'], 'gemini-key');
      } else {
        assert.match(
          rec.url,
          /^\/v1beta1\/projects\/my-proj\/locations\/us-central1\/publishers\/google\/models\//,
        );
        assert.equal(rec.headers.authorization, 'Bearer ya29.sim-token');
      }
    });

    test('generateContentStream: deltas and a running-total usage', async () => {
      let text = '';
      let last: number | undefined;
      let finish: string | undefined;
      for await (const c of await ai.models.generateContentStream(req)) {
        text += c.text ?? '';
        last = c.usageMetadata?.candidatesTokenCount;
        finish = c.candidates?.[0]?.finishReason ?? finish;
      }
      assert.equal(text, `Simulated reply from gcp/gemini-2.5-flash: ${USER}`);
      assert.equal(last, 8);
      assert.equal(finish, 'STOP');
    });

    test('function calls', async () => {
      const r = await ai.models.generateContent({
        model: 'gemini-2.5-flash',
        contents: 'Weather in Paris',
        config: {
          tools: [{ functionDeclarations: [{ name: 'get_weather', parametersJsonSchema: weatherSchema }] }],
        },
      });
      assert.equal(r.functionCalls?.[0]?.name, 'get_weather');
      assert.deepEqual(r.functionCalls?.[0]?.args, { city: 'Weather', days: 42 });
    });

    test('429 and 500 surface as ApiError with the status', async () => {
      sim.setFault({ kind: 'rate_limit', count: 1 });
      await rejects(ai.models.generateContent(req), (e) => assert.equal(e.status, 429));
      sim.setFault({ kind: 'server_error', count: 1 });
      await rejects(ai.models.generateContent(req), (e) => assert.equal(e.status, 500));
    });

    test('a stream failing mid-way: an error chunk, and a cut connection', async () => {
      sim.setFault({ kind: 'stream_error', count: 1, afterChunks: 2 });
      let chunks = 0;
      await rejects(
        (async () => {
          for await (const _ of await ai.models.generateContentStream(req)) chunks++;
        })(),
        (e) => assert.equal(e.status, 503),
      );
      assert.equal(chunks, 2);
      sim.setFault({ kind: 'cut', count: 1, afterChunks: 2 });
      await rejects(
        (async () => {
          for await (const _ of await ai.models.generateContentStream(req)) {
          }
        })(),
        () => {},
      );
    });
  });
}

describe('Anthropic simulator, judged by @anthropic-ai/sdk 1.x', () => {
  let sim: CloudSimulator;
  let client: Anthropic;
  before(async () => {
    sim = await startAnthropicSimulator({ apiKey: 'sk-ant-sim' });
    client = new Anthropic({ apiKey: 'sk-ant-sim', baseURL: sim.url, maxRetries: 0 });
  });
  after(() => sim.close());
  const params = {
    model: 'claude-sonnet-4-5',
    max_tokens: 100,
    system: SYSTEM,
    messages: [{ role: 'user' as const, content: USER }],
  };

  test('messages.create: text, stop reason, usage; Bearer auth and API version 2026-10-21', async () => {
    const r = await client.messages.create(params);
    assert.equal(
      r.content[0]?.type === 'text' && r.content[0].text,
      `Simulated reply from anthropic/claude-sonnet-4-5: ${USER}`,
    );
    assert.equal(r.stop_reason, 'end_turn');
    assert.equal(r.usage.input_tokens, PROMPT);
    assert.equal(r.usage.output_tokens, 8);
    const rec = sim.requests.at(-1)!;
    assert.equal(rec.headers.authorization, 'Bearer sk-ant-sim');
    assert.equal(rec.headers['anthropic-version'], '2026-10-21');
  });

  test('messages.stream: named events assemble into the final message', async () => {
    const final = await client.messages.stream(params).finalMessage();
    assert.equal(
      final.content[0]?.type === 'text' && final.content[0].text,
      `Simulated reply from anthropic/claude-sonnet-4-5: ${USER}`,
    );
    assert.equal(final.usage.output_tokens, 8);
    assert.equal(final.stop_reason, 'end_turn');
  });

  test('effort: a thinking block with its signature before the answer, whole and streamed', async () => {
    const p = { ...params, output_config: { effort: 'high' as const } };
    for (const m of [await client.messages.create(p), await client.messages.stream(p).finalMessage()]) {
      assert.deepEqual(
        m.content.map((b) => b.type),
        ['thinking', 'text'],
      );
      const [thinking, text] = m.content;
      assert.ok(thinking?.type === 'thinking' && thinking.signature.length > 0);
      assert.equal(thinking.thinking.split(' ').length, 32);
      assert.equal(
        text?.type === 'text' && text.text,
        `Simulated reply from anthropic/claude-sonnet-4-5: ${USER}`,
      );
      // The thinking's tokens are part of output_tokens.
      assert.equal(m.usage.output_tokens, 8 + 32);
      assert.equal(m.usage.output_tokens_details?.thinking_tokens, 32);
    }
  });

  test('tool use, whole and streamed', async () => {
    const tools = [{ name: 'get_weather', input_schema: weatherSchema as Anthropic.Tool.InputSchema }];
    const p = { ...params, tools, messages: [{ role: 'user' as const, content: 'Weather in Paris' }] };
    const r = await client.messages.create(p);
    assert.equal(r.stop_reason, 'tool_use');
    const use = r.content.find((b) => b.type === 'tool_use');
    assert.deepEqual(use?.type === 'tool_use' && use.input, { city: 'Weather', days: 42 });
    const s = await client.messages.stream(p).finalMessage();
    const su = s.content.find((b) => b.type === 'tool_use');
    assert.deepEqual(su?.type === 'tool_use' && su.input, { city: 'Weather', days: 42 });
  });

  test('2026-10-21 refuses temperature; 2023-06-01 with x-api-key accepts it', async () => {
    await rejects(client.messages.create({ ...params, temperature: 0.2 } as typeof params), (e) => {
      assert.equal(e.status, 400);
    });
    const legacy = new Anthropic({
      apiKey: null,
      baseURL: sim.url,
      maxRetries: 0,
      defaultHeaders: { 'x-api-key': 'sk-ant-sim', 'anthropic-version': '2023-06-01' },
    });
    const r = await legacy.messages.create({ ...params, temperature: 0.2 } as typeof params);
    assert.equal(r.usage.output_tokens, 8);
    assert.equal(sim.requests.at(-1)!.headers['x-api-key'], 'sk-ant-sim');
  });

  test('429 is a RateLimitError, 529 overloaded an APIError', async () => {
    sim.setFault({ kind: 'rate_limit', count: 1 });
    await rejects(client.messages.create(params), (e) => {
      assert.ok(e instanceof Anthropic.RateLimitError);
      assert.ok(e.requestID);
    });
    sim.setFault({ kind: 'unavailable', count: 1 });
    await rejects(client.messages.create(params), (e) => assert.equal(e.status, 529));
    sim.setFault({ kind: 'server_error', count: 1 });
    await rejects(client.messages.create(params), (e) =>
      assert.ok(e instanceof Anthropic.InternalServerError),
    );
  });

  test('a stream failing mid-way: event: error, and a cut connection', async () => {
    sim.setFault({ kind: 'stream_error', count: 1, afterChunks: 2 });
    await rejects(client.messages.stream(params).finalMessage(), (e) =>
      assert.ok(e instanceof Anthropic.APIError),
    );
    sim.setFault({ kind: 'cut', count: 1, afterChunks: 2 });
    await rejects(client.messages.stream(params).finalMessage(), () => {});
  });
});
