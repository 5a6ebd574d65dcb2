// The gateway judged by the official `openai` SDK: completions, streams, tools, failover before
// the first byte and none after it, cooldown, retry-after, and one exact usage record per request.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import OpenAI from 'openai';
import { promptTokens } from '../sim/index.js';
import { systemClock } from '../src/clock/index.js';
import type { UsageRecord } from '../src/store/index.js';
import { DEMO_KEY, flushed, LIMITED_KEY, type Stack, startStack } from './helpers/stack.js';

let stack: Stack;
let client: OpenAI;

async function usageFor(requestId: string | null): Promise<UsageRecord> {
  assert.ok(requestId, 'the response carries x-request-id');
  await flushed(stack);
  const rows = await stack.store.listUsage({ requestId });
  assert.equal(rows.length, 1, `exactly one usage record for ${requestId}`);
  return rows[0]!;
}

const weatherTool = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
};

describe('gateway through the official openai SDK', () => {
  before(async () => {
    stack = await startStack();
    client = new OpenAI({ baseURL: stack.baseURL, apiKey: DEMO_KEY, maxRetries: 0 });
  });
  after(() => stack.close());
  beforeEach(() => {
    stack.azure.setFault(null);
    stack.openai.setFault(null);
    // Each test starts with healthy deployments.
    stack.gateway.context.health.success('azure-eastus/gpt-4o-prod');
    stack.gateway.context.health.success('openai/gpt-4o-2024-11-20');
    stack.gateway.context.health.success('openai/gpt-4o-mini');
  });

  test('a completion is served by the primary cloud (Azure), with exact usage', async () => {
    const messages = [{ role: 'user' as const, content: 'Hello from the test suite' }];
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages })
      .withResponse();
    assert.equal(response.headers.get('x-entente-cloud'), 'azure');
    assert.equal(response.headers.get('x-entente-deployment'), 'azure-eastus/gpt-4o-prod');
    assert.equal(response.headers.get('x-entente-attempts'), '1');
    assert.match(response.headers.get('x-entente-overhead-ms') ?? '', /^\d+\.\d{3}$/);
    assert.equal(
      data.choices[0]!.message.content,
      'Simulated reply from azure/gpt-4o-prod: Hello from the test suite',
    );
    // What the Azure simulator received: its own path, api-version and api-key, never our client's key.
    const sent = stack.azure.requests.at(-1)!;
    assert.equal(sent.deployment, 'gpt-4o-prod');
    assert.equal(sent.headers['api-key'], 'azure-secret');
    assert.equal(sent.headers.authorization, undefined);
    const rec = await usageFor(response.headers.get('x-request-id'));
    assert.equal(rec.cloud, 'azure');
    assert.equal(rec.modelVersion, '2024-11-20');
    assert.equal(rec.tenantId, 'acme');
    assert.equal(rec.keyId, 'acme-all');
    assert.equal(rec.tokensInputUncached, promptTokens(messages));
    assert.equal(rec.tokensInputUncached, data.usage!.prompt_tokens);
    assert.equal(rec.tokensOutput, data.usage!.completion_tokens);
    assert.equal(rec.status, 200);
    assert.equal(rec.usageExact, true);
    assert.equal(rec.stream, false);
  });

  test('cached and reasoning tokens land in disjoint buckets', async () => {
    const { data, response } = await client.chat.completions
      .create({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: 'a b c d e f g h' }],
        reasoning_effort: 'medium',
        prompt_cache_key: 'k1',
      })
      .withResponse();
    const rec = await usageFor(response.headers.get('x-request-id'));
    const u = data.usage!;
    assert.equal(u.prompt_tokens_details!.cached_tokens, Math.floor(u.prompt_tokens / 2));
    assert.equal(rec.tokensInputCached, u.prompt_tokens_details!.cached_tokens);
    assert.equal(rec.tokensInputUncached + rec.tokensInputCached, u.prompt_tokens);
    assert.equal(rec.tokensReasoning, 16);
    assert.equal(rec.tokensOutput + rec.tokensReasoning, u.completion_tokens);
  });

  test('a stream without include_usage: no usage reaches the client, the record is still exact', async () => {
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'stream me please' }], stream: true })
      .withResponse();
    let text = '';
    for await (const chunk of stream) {
      assert.equal(chunk.usage, undefined, 'no usage field when the client did not ask');
      assert.ok(chunk.choices.length > 0, 'no usage-only chunk');
      text += chunk.choices[0]!.delta.content ?? '';
    }
    assert.equal(text, 'Simulated reply from azure/gpt-4o-prod: stream me please');
    // The gateway asked the upstream for usage anyway.
    const body = stack.azure.requests.at(-1)!.body as { stream_options?: { include_usage?: boolean } };
    assert.equal(body.stream_options?.include_usage, true);
    const rec = await usageFor(response.headers.get('x-request-id'));
    assert.equal(rec.stream, true);
    assert.equal(rec.usageExact, true);
    assert.equal(rec.tokensOutput, text.split(' ').length);
    assert.equal(rec.tokensInputUncached, promptTokens([{ role: 'user', content: 'stream me please' }]));
  });

  test('a stream with include_usage gets the final usage chunk, equal to the record', async () => {
    const { data: stream, response } = await client.chat.completions
      .create({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: 'count these words' }],
        stream: true,
        stream_options: { include_usage: true },
      })
      .withResponse();
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    assert.ok(usage);
    const rec = await usageFor(response.headers.get('x-request-id'));
    assert.equal(rec.tokensInputUncached + rec.tokensInputCached, usage.prompt_tokens);
    assert.equal(rec.tokensOutput + rec.tokensReasoning, usage.completion_tokens);
  });

  test('streamed tool-call deltas are assembled by the SDK', async () => {
    const final = await client.chat.completions
      .stream({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: 'Lisbon weather' }],
        tools: [weatherTool],
        tool_choice: 'auto',
      })
      .finalChatCompletion();
    const call = final.choices[0]!.message.tool_calls![0]!;
    assert.equal(call.type === 'function' && call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.type === 'function' ? call.function.arguments : ''), { city: 'Lisbon' });
    assert.equal(final.choices[0]!.finish_reason, 'tool_calls');
  });

  test('a tool round trip, with every message role, is passed through', async () => {
    const r = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: 'You are terse.' },
        { role: 'developer', content: 'Use tools.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Weather?' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
          ],
        },
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: 'get_weather', arguments: '{"city":"Oslo"}' },
            },
          ],
        },
        { role: 'tool', tool_call_id: 'call_1', content: '{"temp":3}' },
      ],
      tools: [weatherTool],
      response_format: { type: 'json_object' },
      user: 'user-42',
      max_completion_tokens: 3,
      stop: ['never'],
    });
    assert.equal(r.choices[0]!.finish_reason, 'length');
    const sent = stack.azure.requests.at(-1)!.body as Record<string, unknown>;
    assert.equal((sent.messages as unknown[]).length, 5);
    assert.deepEqual(sent.response_format, { type: 'json_object' });
    assert.equal(sent.user, 'user-42');
    assert.equal(sent.max_completion_tokens, 3);
    assert.equal(sent.model, 'gpt-4o-prod');
  });

  test('n > 1 returns n choices', async () => {
    const r = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'two' }],
      n: 2,
    });
    assert.equal(r.choices.length, 2);
  });

  test('Azure failing with 500 before the first byte: served by the next cloud, headers say so', async () => {
    stack.azure.setFault({ kind: 'server_error' });
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'fail over' }] })
      .withResponse();
    assert.equal(response.headers.get('x-entente-cloud'), 'openai');
    assert.equal(response.headers.get('x-entente-deployment'), 'openai/gpt-4o-2024-11-20');
    assert.equal(response.headers.get('x-entente-attempts'), '2');
    assert.equal(
      data.choices[0]!.message.content,
      'Simulated reply from openai/gpt-4o-2024-11-20: fail over',
    );
    const rec = await usageFor(response.headers.get('x-request-id'));
    assert.equal(rec.cloud, 'openai');
    assert.equal(rec.attempts, 2);
  });

  test('a failing deployment is cooled down: later requests skip it at once', async () => {
    stack.azure.setFault({ kind: 'server_error' });
    const azureBefore = stack.azure.requests.length;
    for (let i = 0; i < 2; i++)
      await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(stack.azure.requests.length - azureBefore, 2, 'two failures open the breaker');
    for (let i = 0; i < 5; i++) {
      const { response } = await client.chat.completions
        .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })
        .withResponse();
      assert.equal(
        response.headers.get('x-entente-attempts'),
        '1',
        'no attempt wasted on the cooled-down primary',
      );
      assert.equal(response.headers.get('x-entente-cloud'), 'openai');
    }
    assert.equal(stack.azure.requests.length - azureBefore, 2, 'Azure received nothing while cooling down');
  });

  test('a 429 with retry-after cools the deployment for that long, and traffic fails over', async () => {
    stack.azure.setFault({ kind: 'rate_limit', retryAfterS: 30, count: 1 });
    const { response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })
      .withResponse();
    assert.equal(response.headers.get('x-entente-cloud'), 'openai');
    const h = stack.gateway.context.health.snapshot(systemClock.now())['azure-eastus/gpt-4o-prod']!;
    assert.equal(h.coolingDown, true);
    assert.ok(h.openUntilMs - systemClock.now() > 25_000 && h.openUntilMs - systemClock.now() <= 30_000);
    const azureBefore = stack.azure.requests.length;
    await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(stack.azure.requests.length, azureBefore, 'retry-after is honoured');
  });

  test('every deployment rate limited: 429 with retry-after, which the SDK honours on retry', async () => {
    stack.openai.setFault({ kind: 'rate_limit', retryAfterS: 1, count: 1 });
    await assert.rejects(
      client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
      (err: unknown) => {
        assert.ok(err instanceof OpenAI.RateLimitError);
        assert.equal(err.code, 'upstream_rate_limited');
        assert.equal(err.headers?.get('retry-after'), '1');
        return true;
      },
    );
    // The SDK's own retry waits for retry-after; by then the breaker lets one probe through.
    stack.gateway.context.health.success('openai/gpt-4o-mini');
    stack.openai.setFault({ kind: 'rate_limit', retryAfterS: 1, count: 1 });
    const retrying = new OpenAI({ baseURL: stack.baseURL, apiKey: DEMO_KEY, maxRetries: 2 });
    const r = await retrying.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x' }],
    });
    assert.equal(r.choices[0]!.finish_reason, 'stop');
  });

  test('a stream cut after the first byte is not failed over: the client gets an error event', async () => {
    stack.azure.setFault({ kind: 'cut', afterChunks: 2, count: 1 });
    const openaiBefore = stack.openai.requests.length;
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'a b c d e f g' }], stream: true })
      .withResponse();
    assert.equal(response.headers.get('x-entente-cloud'), 'azure');
    let text = '';
    await assert.rejects(async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    }, OpenAI.APIError);
    assert.equal(text, 'Simulated reply', 'the client saw the two chunks before the cut');
    assert.equal(stack.openai.requests.length, openaiBefore, 'no failover after the first byte');
    const rec = await usageFor(response.headers.get('x-request-id'));
    assert.equal(rec.errorCode, 'upstream_stream_error');
    assert.equal(rec.usageExact, false);
    assert.equal(rec.cloud, 'azure');
    assert.equal(rec.tokensOutput, 2, 'the two content deltas the client was sent');
  });

  test('a stream cut before its first event fails over to the next cloud', async () => {
    stack.azure.setFault({ kind: 'cut', afterChunks: 0, count: 1 });
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'first byte' }], stream: true })
      .withResponse();
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    // Azure sent its role chunk before the cut; the gateway held it back, so failover was still safe.
    assert.equal(response.headers.get('x-entente-cloud'), 'openai');
    assert.equal(text, 'Simulated reply from openai/gpt-4o-2024-11-20: first byte');
  });

  test('a hanging primary times out and the next cloud serves', async () => {
    stack.azure.setFault({ kind: 'hang', count: 1 });
    const { response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })
      .withResponse();
    assert.equal(response.headers.get('x-entente-cloud'), 'openai');
  });

  test('a connection reset fails over too', async () => {
    stack.azure.setFault({ kind: 'reset', count: 1 });
    const { response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })
      .withResponse();
    assert.equal(response.headers.get('x-entente-cloud'), 'openai');
  });

  test('an upstream 400 is passed on with its code and not failed over', async () => {
    stack.azure.setFault({ kind: 'content_filter', count: 1 });
    const openaiBefore = stack.openai.requests.length;
    await assert.rejects(
      client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }),
      (err: unknown) => {
        assert.ok(err instanceof OpenAI.BadRequestError);
        assert.equal(err.code, 'content_filter');
        return true;
      },
    );
    assert.equal(stack.openai.requests.length, openaiBefore);
  });

  test('GET /v1/models lists only the models the key may call', async () => {
    const all = await client.models.list();
    assert.deepEqual(all.data.map((m) => m.id).sort(), ['gpt-4o', 'gpt-4o-mini']);
    const limited = new OpenAI({ baseURL: stack.baseURL, apiKey: LIMITED_KEY, maxRetries: 0 });
    const some = await limited.models.list();
    assert.deepEqual(
      some.data.map((m) => m.id),
      ['gpt-4o-mini'],
    );
    await assert.rejects(
      limited.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }),
      (err: unknown) => {
        assert.ok(err instanceof OpenAI.PermissionDeniedError);
        assert.equal(err.code, 'model_not_allowed');
        return true;
      },
    );
  });

  test('an unknown key and a missing key are refused with 401', async () => {
    const bad = new OpenAI({ baseURL: stack.baseURL, apiKey: 'sk-nope', maxRetries: 0 });
    await assert.rejects(
      bad.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] }),
      (err: unknown) => {
        assert.ok(err instanceof OpenAI.AuthenticationError);
        assert.equal(err.code, 'invalid_api_key');
        return true;
      },
    );
    const r = await fetch(`${stack.baseURL}/chat/completions`, { method: 'POST', body: '{}' });
    assert.equal(r.status, 401);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, 'missing_api_key');
  });

  test('every request, failed or not, yields exactly one usage record', async () => {
    await flushed(stack);
    const before = await stack.store.countUsage();
    const ids: string[] = [];
    const calls = [
      () =>
        client.chat.completions
          .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'ok' }] })
          .withResponse(),
      () =>
        client.chat.completions
          .create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] })
          .withResponse(),
      () =>
        client.chat.completions
          .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'ok' }], stream: true })
          .withResponse(),
    ];
    for (const call of calls) {
      try {
        const { response, data } = await call();
        if (Symbol.asyncIterator in (data as object)) for await (const _ of data as AsyncIterable<unknown>);
        ids.push(response.headers.get('x-request-id')!);
      } catch (err) {
        ids.push((err as InstanceType<typeof OpenAI.APIError>).headers!.get('x-request-id')!);
      }
    }
    await flushed(stack);
    assert.equal((await stack.store.countUsage()) - before, 3);
    for (const id of ids) await usageFor(id);
    const failed = await usageFor(ids[1]!);
    assert.equal(failed.errorCode, 'model_not_found');
    assert.equal(failed.status, 404);
  });
});
