// One conformance suite run against every adapter over recorded fixtures: request building,
// response parsing, stream mapping, error classification. Pure functions, no network.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseChatRequest } from '../src/canonical/index.js';
import {
  adapters,
  isFailure,
  isUnsupported,
  type NativeRequest,
  type ProviderAdapter,
} from '../src/providers/index.js';
import { SseParser } from '../src/sse/index.js';

const fixture = (path: string) =>
  readFileSync(fileURLToPath(new URL(`../../src/providers/${path}`, import.meta.url)));

function mapStream(adapter: ProviderAdapter, bytes: Buffer, clientWantsUsage: boolean) {
  const parser = new SseParser();
  const mapper = adapter.createStreamMapper({ ...ctx, clientWantsUsage });
  const steps = [...parser.push(bytes), ...parser.end()].map((e) => mapper.map(e));
  return {
    frames: steps.flatMap((s) => s.frames).map((f) => JSON.parse(f) as Record<string, unknown>),
    usage: steps.find((s) => s.usage)?.usage,
    finish: steps.find((s) => s.finishReason)?.finishReason,
    done: steps.some((s) => s.done),
    preambles: steps.filter((s) => s.preamble).length,
  };
}

const ctx = { model: 'gpt-4o', id: 'chatcmpl-test', created: 1_700_000_000 };

function built(
  adapter: ProviderAdapter,
  req: Parameters<ProviderAdapter['buildChatRequest']>[0],
  t: Parameters<ProviderAdapter['buildChatRequest']>[1],
): NativeRequest {
  const r = adapter.buildChatRequest(req, t);
  assert.ok(!isUnsupported(r), JSON.stringify(r));
  return r;
}

const request = parseChatRequest({
  model: 'gpt-4o',
  messages: [{ role: 'user', content: 'hi' }],
  stream: true,
  temperature: 0.2,
  some_future_param: { kept: true },
});
assert.ok(request.ok);
const target = {
  deployment: 'dep/1',
  basePath: '',
  apiKey: 'secret',
  apiVersion: '2024-10-21',
  azurePathStyle: 'deployments' as const,
};

const expectations = {
  openai: {
    path: '/v1/chat/completions',
    auth: { authorization: 'Bearer secret' },
    target: { ...target, basePath: '/v1' },
  },
  'azure-openai': {
    path: '/openai/deployments/dep%2F1/chat/completions?api-version=2024-10-21',
    auth: { 'api-key': 'secret' },
    target,
  },
} as const;

for (const id of ['openai', 'azure-openai'] as const) {
  const adapter = adapters[id];
  const exp = expectations[id as keyof typeof expectations];
  describe(`adapter conformance: ${id}`, () => {
    test('builds the native request: path, auth, body with usage forced on', () => {
      const r = built(adapter, request.value, exp.target);
      assert.equal(r.method, 'POST');
      assert.equal(r.path, exp.path);
      for (const [k, v] of Object.entries(exp.auth)) assert.equal(r.headers[k], v);
      const body = JSON.parse(r.body) as Record<string, unknown>;
      assert.equal(body.model, 'dep/1');
      assert.deepEqual(body.stream_options, { include_usage: true });
      assert.equal(body.temperature, 0.2);
      assert.deepEqual(
        body.some_future_param,
        { kept: true },
        'unknown fields reach an OpenAI-family upstream',
      );
    });

    test('parses a chat.completion: bytes unchanged, usage in disjoint buckets', () => {
      const bytes = fixture('openai/__fixtures__/chat-response.json');
      const r = adapter.parseChatResponse(bytes, ctx);
      assert.ok(!isFailure(r));
      assert.equal(r.body, bytes);
      assert.equal(r.finishReason, 'stop');
      assert.deepEqual(r.usage, {
        tokensInputUncached: 4,
        tokensInputCached: 8,
        tokensOutput: 2,
        tokensReasoning: 2,
      });
    });

    test('rejects a response that is not a chat.completion', () => {
      for (const bad of ['not json', '{"object":"list"}', 'null']) {
        const r = adapter.parseChatResponse(Buffer.from(bad), ctx);
        assert.ok(isFailure(r));
        assert.equal(r.kind, 'bad_response');
      }
    });

    test('streams a tool call; usage hidden from a client that did not ask', () => {
      const bytes = fixture('openai/__fixtures__/stream-tool-call.chunks.txt');
      const without = mapStream(adapter, bytes, false);
      assert.equal(without.frames.length, 4);
      assert.ok(without.frames.every((f) => !('usage' in f)));
      assert.equal(without.finish, 'tool_calls');
      assert.equal(without.done, true);
      assert.equal(without.preambles, 0, 'a first delta that opens a tool call is content');
      assert.deepEqual(without.usage, {
        tokensInputUncached: 60,
        tokensInputCached: 0,
        tokensOutput: 17,
        tokensReasoning: 0,
      });
      const withUsage = mapStream(adapter, bytes, true);
      assert.equal(withUsage.frames.length, 5);
      assert.deepEqual(withUsage.frames.at(-1)!.choices, []);
      assert.equal(withUsage.frames[0]!.usage, null);
    });

    test("drops Azure's prompt-filter chunk; the role-only chunk is a preamble", () => {
      const r = mapStream(adapter, fixture('azure-openai/__fixtures__/stream-text.chunks.txt'), false);
      assert.equal(r.frames.length, 3);
      assert.equal(r.frames[0]!.id, 'chatcmpl-AZ1');
      assert.equal(r.preambles, 1);
      assert.deepEqual(r.usage, {
        tokensInputUncached: 5,
        tokensInputCached: 4,
        tokensOutput: 1,
        tokensReasoning: 0,
      });
    });

    test('an error event inside the stream becomes a failure', () => {
      const r = mapStream(
        adapter,
        Buffer.from('data: {"error":{"message":"boom","type":"server_error","param":null,"code":null}}\n\n'),
        false,
      );
      assert.equal(r.frames.length, 0);
      const parser = new SseParser();
      const step = adapter
        .createStreamMapper({ ...ctx, clientWantsUsage: false })
        .map(parser.push(Buffer.from('data: {"error":{"message":"boom"}}\n\n'))[0]!);
      assert.equal(step.error?.message, 'boom');
    });

    test('classifies upstream errors for failover', () => {
      const table: [number, Record<string, string>, string, string, number | null][] = [
        [429, { 'retry-after': '7' }, '{"error":{"code":"429","message":"slow down"}}', 'rate_limited', 7000],
        [
          429,
          { 'retry-after-ms': '1500', 'retry-after': '9' },
          '{"error":{"message":"x","type":"requests","code":"rate_limit_exceeded"}}',
          'rate_limited',
          1500,
        ],
        [500, {}, '<html>oops</html>', 'server', null],
        [503, {}, '{"error":{"message":"overloaded"}}', 'server', null],
        [400, {}, '{"error":{"message":"bad","code":"content_filter","param":"prompt"}}', 'client', null],
        [401, {}, '{"error":{"code":"401","message":"Access denied"}}', 'auth', null],
        // A deployment that does not exist is a configuration error, not a credential one.
        [404, {}, '{"error":{"code":"DeploymentNotFound","message":"no"}}', 'not_found', null],
      ];
      for (const [status, headers, body, kind, retry] of table) {
        const f = adapter.parseError(status, headers, Buffer.from(body));
        assert.equal(f.kind, kind, `${status} ${body}`);
        assert.equal(f.retryAfterMs, retry);
        assert.equal(f.status, status);
      }
      assert.equal(
        adapter.parseError(
          400,
          {},
          Buffer.from('{"error":{"message":"bad","code":"content_filter","param":"prompt"}}'),
        ).upstreamCode,
        'content_filter',
      );
    });
  });
}

test('Azure v1 path style: /openai/v1/, Bearer auth, deployment in the body', () => {
  const r = built(adapters['azure-openai'], request.value, { ...target, azurePathStyle: 'v1' });
  assert.equal(r.path, '/openai/v1/chat/completions');
  assert.equal(r.headers.authorization, 'Bearer secret');
  assert.equal(r.headers['api-key'], undefined);
});
