// The provider conformance suite: one set of checks run against every adapter over recorded
// fixtures (src/providers/*/__fixtures__, recorded by scripts/record-provider-fixtures.js or
// from the clouds' documented examples). Pure functions, no network. What each adapter must do:
// build an authenticated POST, turn its cloud's answer into a chat.completion whose usage is in
// disjoint buckets, turn its cloud's stream into chat.completion.chunk payloads that say the same
// thing, fail a stream that reports an error, classify HTTP errors for failover, and refuse what
// it cannot honour with the parameter named.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseChatRequest } from '../src/canonical/index.js';
import { EventStreamEventParser, encodeEvent, encodeException } from '../src/eventstream/index.js';
import {
  type AdapterTarget,
  adapters,
  isFailure,
  isUnsupported,
  type NativeRequest,
  type ProviderAdapter,
  type ProviderId,
} from '../src/providers/index.js';
import { SseParser } from '../src/sse/index.js';

const fixture = (path: string) =>
  readFileSync(fileURLToPath(new URL(`../../src/providers/${path}`, import.meta.url)));
const ctx = { model: 'public-model', id: 'chatcmpl-conf', created: 1_700_000_000 };

function req(body: Record<string, unknown>) {
  const r = parseChatRequest({ model: 'public-model', ...body });
  assert.ok(r.ok, JSON.stringify(r));
  return r.value;
}

function events(adapter: ProviderAdapter, bytes: Buffer) {
  if (adapter.streamFraming === 'sse') {
    const p = new SseParser();
    return [...p.push(bytes), ...p.end()];
  }
  const p = new EventStreamEventParser();
  return [...p.push(bytes), ...p.end()];
}

function mapStream(adapter: ProviderAdapter, bytes: Buffer, clientWantsUsage: boolean) {
  const mapper = adapter.createStreamMapper({ ...ctx, clientWantsUsage });
  const steps = events(adapter, bytes).map((e) => mapper.map(e));
  const frames = steps.flatMap((s) => s.frames).map((f) => JSON.parse(f) as ChunkJson);
  let text = '';
  const args = new Map<number, string>();
  for (const f of frames) {
    for (const c of f.choices) {
      text += c.delta.content ?? '';
      for (const t of c.delta.tool_calls ?? [])
        args.set(t.index, (args.get(t.index) ?? '') + (t.function?.arguments ?? ''));
    }
  }
  return {
    frames,
    text,
    args,
    usage: steps.findLast((s) => s.usage)?.usage,
    finish: steps.find((s) => s.finishReason)?.finishReason,
    done: steps.some((s) => s.done),
    errors: steps.filter((s) => s.error).map((s) => s.error!),
  };
}

interface ChunkJson {
  id: string;
  object: string;
  model: string;
  choices: {
    index: number;
    delta: {
      content?: string;
      tool_calls?: { index: number; id?: string; function?: { name?: string; arguments?: string } }[];
    };
    finish_reason: string | null;
  }[];
  usage?: unknown;
}

interface Spec {
  readonly target: AdapterTarget;
  /** Expected path of a non-streamed request, and a header the auth sets. */
  readonly path: string;
  readonly auth: readonly [string, RegExp];
  readonly response: Buffer;
  readonly responseText: string;
  readonly responseUsage: { in: number; cached: number; out: number; reasoning: number };
  readonly stream: Buffer;
  /** The stream's text, when the stream fixture is not the response fixture's answer. */
  readonly streamText?: string;
  readonly toolStream?: Buffer;
  /** An in-stream error in this cloud's framing. */
  readonly streamError: Buffer;
  /** [status, headers, body] for 429, 500, 400, 401. */
  readonly errors: Record<429 | 500 | 400 | 401, [Record<string, string>, string]>;
  /** Whether the adapter translates (and so refuses n > 1). */
  readonly translates: boolean;
}

const base: AdapterTarget = {
  deployment: 'dep:1',
  basePath: '',
  apiKey: 'secret',
  apiVersion: undefined,
  azurePathStyle: 'deployments',
  host: '127.0.0.1:9',
  region: 'us-east-1',
  project: 'proj',
  nowMs: () => Date.UTC(2026, 10, 26),
};
const aws = { ...base, aws: { accessKeyId: 'AKID', secretAccessKey: 'secret' } };
const openaiErrors: Spec['errors'] = {
  429: [
    { 'retry-after': '2' },
    '{"error":{"message":"slow","type":"requests","code":"rate_limit_exceeded"}}',
  ],
  500: [{}, '{"error":{"message":"boom","type":"server_error"}}'],
  400: [{}, '{"error":{"message":"bad","type":"invalid_request_error"}}'],
  401: [{}, '{"error":{"message":"no","code":"invalid_api_key"}}'],
};
const bedrockErrors: Spec['errors'] = {
  429: [
    { 'x-amzn-errortype': 'ThrottlingException:http://internal.amazon.com/coral/', 'retry-after': '2' },
    '{"message":"Too many requests"}',
  ],
  500: [{ 'x-amzn-errortype': 'InternalServerException' }, '{"message":"internal"}'],
  400: [{ 'x-amzn-errortype': 'ValidationException' }, '{"message":"bad"}'],
  401: [{ 'x-amzn-errortype': 'UnrecognizedClientException' }, '{"message":"no"}'],
};
const googleErrors: Spec['errors'] = {
  429: [
    {},
    '{"error":{"code":429,"message":"exhausted","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"2s"}]}}',
  ],
  500: [{}, '{"error":{"code":500,"message":"internal","status":"INTERNAL"}}'],
  400: [{}, '{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}'],
  401: [{}, '{"error":{"code":401,"message":"no","status":"UNAUTHENTICATED"}}'],
};
const anthropicErrors: Spec['errors'] = {
  429: [{ 'retry-after': '2' }, '{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}'],
  500: [{}, '{"type":"error","error":{"type":"api_error","message":"boom"}}'],
  400: [{}, '{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}'],
  401: [{}, '{"type":"error","error":{"type":"authentication_error","message":"no"}}'],
};
const anthropicSseError = Buffer.from(
  'event: message_start\ndata: {"type":"message_start","message":{"usage":{"input_tokens":3}}}\n\nevent: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n',
);
const chunkOf = (e: unknown) =>
  encodeEvent('chunk', { bytes: Buffer.from(JSON.stringify(e)).toString('base64') });

// What providers sharing a wire format share: only URL, auth and target differ between them.
type Wire = Omit<Spec, 'target' | 'path' | 'auth'>;
const openaiWire: Wire = {
  response: fixture('openai/__fixtures__/chat-response.json'),
  responseText: 'Hi there',
  responseUsage: { in: 4, cached: 8, out: 2, reasoning: 2 },
  stream: fixture('azure-openai/__fixtures__/stream-text.chunks.txt'),
  toolStream: fixture('openai/__fixtures__/stream-tool-call.chunks.txt'),
  streamError: Buffer.from('data: {"error":{"message":"boom","type":"server_error"}}\n\n'),
  errors: openaiErrors,
  translates: false,
};
const googleWire: Wire = {
  response: fixture('google/__fixtures__/generate-content-response.json'),
  responseText: 'Simulated reply from gcp/m: Hello there',
  responseUsage: { in: 8, cached: 0, out: 6, reasoning: 0 },
  stream: fixture('google/__fixtures__/stream-text.chunks.txt'),
  toolStream: fixture('google/__fixtures__/stream-tool.chunks.txt'),
  streamError: Buffer.from(
    'data: {"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}\r\n\r\n',
  ),
  errors: googleErrors,
  translates: true,
};
const anthropicWire: Wire = {
  response: fixture('anthropic/__fixtures__/message-response.json'),
  responseText: 'Simulated reply from anthropic/m: Hello there',
  responseUsage: { in: 8, cached: 0, out: 6, reasoning: 0 },
  stream: fixture('anthropic/__fixtures__/stream-text.chunks.txt'),
  toolStream: fixture('anthropic/__fixtures__/stream-tool.chunks.txt'),
  streamError: anthropicSseError,
  errors: anthropicErrors,
  translates: true,
};

const specs: Record<ProviderId, Spec> = {
  openai: {
    ...openaiWire,
    target: { ...base, basePath: '/v1' },
    path: '/v1/chat/completions',
    auth: ['authorization', /^Bearer secret$/],
  },
  'azure-openai': {
    ...openaiWire,
    target: { ...base, apiVersion: '2024-10-21' },
    path: '/openai/deployments/dep%3A1/chat/completions?api-version=2024-10-21',
    auth: ['api-key', /^secret$/],
  },
  bedrock: {
    target: aws,
    path: '/model/dep%3A1/converse',
    auth: [
      'authorization',
      /^AWS4-HMAC-SHA256 Credential=AKID\/20261126\/us-east-1\/bedrock\/aws4_request, SignedHeaders=accept;content-type;host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/,
    ],
    response: fixture('bedrock/__fixtures__/converse-response.json'),
    responseText: 'Simulated reply from aws/m: Hello there',
    responseUsage: { in: 8, cached: 0, out: 6, reasoning: 0 },
    stream: fixture('bedrock/__fixtures__/converse-stream-text.eventstream'),
    toolStream: fixture('bedrock/__fixtures__/converse-stream-tool.eventstream'),
    streamError: Buffer.concat([
      encodeEvent('messageStart', { role: 'assistant' }),
      encodeException('throttlingException', { message: 'Too many tokens' }),
    ]),
    errors: bedrockErrors,
    translates: true,
  },
  vertex: {
    ...googleWire,
    target: { ...base, region: 'us-central1' },
    path: '/v1/projects/proj/locations/us-central1/publishers/google/models/dep%3A1:generateContent',
    auth: ['authorization', /^Bearer secret$/],
  },
  gemini: {
    ...googleWire,
    target: base,
    path: '/v1beta/models/dep%3A1:generateContent',
    auth: ['x-goog-api-key', /^secret$/],
  },
  anthropic: {
    ...anthropicWire,
    target: base,
    path: '/v1/messages',
    auth: ['x-api-key', /^secret$/],
  },
  'anthropic-vertex': {
    ...anthropicWire,
    target: { ...base, region: 'us-east5' },
    path: '/v1/projects/proj/locations/us-east5/publishers/anthropic/models/dep%3A1:rawPredict',
    auth: ['authorization', /^Bearer secret$/],
  },
  'anthropic-bedrock': {
    target: aws,
    path: '/model/dep%3A1/invoke',
    auth: ['authorization', /^AWS4-HMAC-SHA256 Credential=AKID\//],
    response: fixture('anthropic/__fixtures__/message-response.json'),
    responseText: 'Simulated reply from anthropic/m: Hello there',
    responseUsage: { in: 8, cached: 0, out: 6, reasoning: 0 },
    stream: fixture('anthropic/__fixtures__/bedrock-invoke-stream-text.eventstream'),
    streamText: 'Simulated reply from aws/m: Hello there',
    streamError: Buffer.concat([
      chunkOf({ type: 'message_start', message: { usage: { input_tokens: 3 } } }),
      encodeException('modelStreamErrorException', { message: 'model failed' }),
    ]),
    errors: bedrockErrors,
    translates: true,
  },
};

const chat = req({
  messages: [
    { role: 'system', content: 'Be brief.' },
    { role: 'user', content: 'Hello there' },
  ],
  max_completion_tokens: 50,
  stop: ['\n\n'],
});

for (const id of Object.keys(adapters) as ProviderId[]) {
  const adapter = adapters[id];
  const spec = specs[id];
  describe(`provider conformance: ${id}`, () => {
    test('builds an authenticated POST with a JSON body', () => {
      const r = adapter.buildChatRequest(chat, spec.target) as NativeRequest;
      assert.ok(!isUnsupported(r));
      assert.equal(r.method, 'POST');
      assert.equal(r.path, spec.path);
      assert.match(r.headers[spec.auth[0]] ?? '', spec.auth[1]);
      assert.equal(r.headers['content-type'], 'application/json');
      const body = JSON.stringify(JSON.parse(r.body));
      assert.ok(body.includes('Hello there'), 'the user text reaches the cloud');
      assert.ok(body.includes('Be brief.'), 'the system text reaches the cloud');
      assert.ok(body.includes('50'), 'the token limit reaches the cloud');
    });

    test('turns its answer into a chat.completion with usage in disjoint buckets', () => {
      const r = adapter.parseChatResponse(spec.response, ctx);
      assert.ok(!isFailure(r));
      const body = JSON.parse(Buffer.from(r.body as Uint8Array | string).toString()) as {
        object: string;
        choices: { message: { content: string }; finish_reason: string }[];
        usage: { prompt_tokens: number; completion_tokens: number };
      };
      assert.equal(body.object, 'chat.completion');
      assert.equal(body.choices[0]!.message.content, spec.responseText);
      assert.equal(body.choices[0]!.finish_reason, 'stop');
      assert.equal(r.finishReason, 'stop');
      const u = spec.responseUsage;
      assert.deepEqual(r.usage, {
        tokensInputUncached: u.in,
        tokensInputCached: u.cached,
        tokensOutput: u.out,
        tokensReasoning: u.reasoning,
      });
      assert.equal(body.usage.prompt_tokens, u.in + u.cached);
      assert.equal(body.usage.completion_tokens, u.out + u.reasoning);
    });

    test('rejects an answer that is not one', () => {
      for (const bad of ['not json', '{"object":"list"}', 'null']) {
        const r = adapter.parseChatResponse(Buffer.from(bad), ctx);
        assert.ok(isFailure(r), bad);
        assert.equal(r.kind, 'bad_response');
      }
    });

    test('turns its stream into chunks that say the same; usage only for a client that asked', () => {
      const without = mapStream(adapter, spec.stream, false);
      assert.equal(without.errors.length, 0);
      assert.ok(without.text.length > 0);
      assert.equal(without.finish, 'stop');
      assert.ok(without.done || without.finish, 'the stream ends complete');
      assert.ok(without.usage, 'the usage is known');
      for (const f of without.frames) {
        assert.equal(f.object, 'chat.completion.chunk');
        assert.ok(!('usage' in f) || f.usage === null || spec.translates === false);
        assert.ok(f.choices.length > 0, 'no usage-only chunk for a client that did not ask');
      }
      const withUsage = mapStream(adapter, spec.stream, true);
      const last = withUsage.frames.at(-1)!;
      assert.deepEqual(last.choices, []);
      assert.ok(last.usage);
      if (spec.translates) {
        assert.equal(without.text, spec.streamText ?? spec.responseText);
        assert.ok(without.frames.every((f) => f.id === ctx.id && f.model === ctx.model));
      }
    });

    if (spec.toolStream) {
      test('streams a tool call: id and name first, then argument fragments', () => {
        const r = mapStream(adapter, spec.toolStream!, false);
        assert.equal(r.finish, 'tool_calls');
        const first = r.frames.flatMap((f) => f.choices.flatMap((c) => c.delta.tool_calls ?? []))[0]!;
        assert.ok(first.id);
        assert.ok(first.function?.name);
        assert.doesNotThrow(() => JSON.parse(r.args.get(0)!));
      });
    }

    test("fails a stream that reports its cloud's error", () => {
      const r = mapStream(adapter, spec.streamError, false);
      assert.equal(r.errors.length, 1);
      assert.ok(r.errors[0]!.message.length > 0);
    });

    test('classifies HTTP errors for failover', () => {
      const expect = { 429: 'rate_limited', 500: 'server', 400: 'client', 401: 'auth' } as const;
      for (const status of [429, 500, 400, 401] as const) {
        const [headers, body] = spec.errors[status];
        const f = adapter.parseError(status, headers, Buffer.from(body));
        assert.equal(f.kind, expect[status], `${id} ${status}`);
        assert.equal(f.status, status);
        assert.ok(f.message.length > 0);
      }
      const [h, b] = spec.errors[429];
      assert.equal(adapter.parseError(429, h, Buffer.from(b)).retryAfterMs, 2000);
    });

    if (spec.translates) {
      test('refuses what it cannot honour, naming the parameter; warns about what it ignores', () => {
        const n2 = adapter.buildChatRequest(
          req({ messages: [{ role: 'user', content: 'x' }], n: 2 }),
          spec.target,
        );
        assert.ok(isUnsupported(n2));
        assert.equal(n2.param, 'n');
        const audio = adapter.buildChatRequest(
          req({
            messages: [
              {
                role: 'user',
                content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }],
              },
            ],
          }),
          spec.target,
        );
        assert.ok(isUnsupported(audio));
        assert.equal(audio.param, 'messages[0].content[0]');
        const odd = adapter.buildChatRequest(
          req({ messages: [{ role: 'user', content: 'x' }], some_future_param: 1 }),
          spec.target,
        );
        assert.ok(!isUnsupported(odd));
        assert.ok(odd.warnings?.some((w) => w.includes('some_future_param')));
      });

      test('tool history: calls and results keep their ids; a result without its call is refused', () => {
        const history = req({
          tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
          messages: [
            { role: 'user', content: 'Weather?' },
            {
              role: 'assistant',
              content: null,
              tool_calls: [
                {
                  id: 'call_A',
                  type: 'function',
                  function: { name: 'get_weather', arguments: '{"city":"Paris"}' },
                },
                {
                  id: 'call_B',
                  type: 'function',
                  function: { name: 'get_weather', arguments: '{"city":"Rome"}' },
                },
              ],
            },
            { role: 'tool', tool_call_id: 'call_A', content: '{"temp":21}' },
            { role: 'tool', tool_call_id: 'call_B', content: 'sunny' },
          ],
        });
        const r = adapter.buildChatRequest(history, spec.target);
        assert.ok(!isUnsupported(r));
        const body = r.body;
        for (const s of ['call_A', 'call_B', 'Paris', 'Rome', 'sunny', '21']) assert.ok(body.includes(s), s);
        const orphan = adapter.buildChatRequest(
          req({
            messages: [
              { role: 'user', content: 'x' },
              { role: 'tool', tool_call_id: 'nope', content: 'y' },
            ],
          }),
          spec.target,
        );
        assert.ok(isUnsupported(orphan));
        assert.equal(orphan.param, 'messages[1].tool_call_id');
      });
    }
  });
}
