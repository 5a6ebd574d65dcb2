// The simulators judged by the official `openai` SDK: its OpenAI client against the OpenAI
// simulator and its AzureOpenAI client against the Azure simulator. If the SDK accepts the bytes,
// the simulator is faithful enough for the gateway tests that rely on it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI, { AzureOpenAI } from 'openai';
import { promptTokens, type Simulator, startSimulator } from '../sim/index.js';

const weatherTool = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Weather for a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, days: { type: 'integer' } },
      required: ['city'],
    },
  },
};

for (const kind of ['openai', 'azure-openai'] as const) {
  describe(`${kind} simulator, judged by the official SDK`, () => {
    let sim: Simulator;
    let client: OpenAI;
    /** The SDK client the simulator's cloud would be called with. */
    const sdk = (apiKey: string, maxRetries: number): OpenAI =>
      kind === 'openai'
        ? new OpenAI({ baseURL: `${sim.url}/v1`, apiKey, maxRetries })
        : new AzureOpenAI({
            endpoint: sim.url,
            apiKey,
            apiVersion: '2024-10-21',
            deployment: 'dep-1',
            maxRetries,
          });
    before(async () => {
      sim = await startSimulator({ kind, apiKey: 'k-sim' });
      client = sdk('k-sim', 0);
    });
    after(() => sim.close());

    test('non-streaming text with exact usage', async () => {
      const messages = [
        { role: 'system' as const, content: 'Be brief.' },
        { role: 'user' as const, content: 'Say hello to Paris' },
      ];
      const r = await client.chat.completions.create({ model: 'gpt-4o', messages });
      const origin = kind === 'openai' ? 'openai/gpt-4o' : 'azure/dep-1';
      assert.equal(r.choices[0]!.message.content, `Simulated reply from ${origin}: Say hello to Paris`);
      assert.equal(r.choices[0]!.finish_reason, 'stop');
      assert.equal(r.usage!.prompt_tokens, promptTokens(messages));
      assert.equal(r.usage!.prompt_tokens, 3 + (3 + 2) + (3 + 4));
      assert.equal(r.usage!.completion_tokens, 8);
      if (kind === 'azure-openai') {
        const last = sim.requests.at(-1)!;
        assert.equal(last.deployment, 'dep-1');
        assert.equal(last.headers['api-key'], 'k-sim');
        assert.match(last.url, /api-version=2024-10-21/);
      }
    });

    test('streaming with include_usage: chunks assemble, usage arrives last', async () => {
      const stream = await client.chat.completions.create({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: 'one two three' }],
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = '';
      let usage: OpenAI.CompletionUsage | null | undefined;
      let finish: string | null = null;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
        if (chunk.usage) usage = chunk.usage;
      }
      assert.match(text, /: one two three$/);
      assert.equal(finish, 'stop');
      assert.equal(usage!.completion_tokens, text.split(/\s+/).length);
    });

    test('streamed tool call is assembled by the .stream() helper', async () => {
      const runner = client.chat.completions.stream({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: 'Paris please' }],
        tools: [weatherTool],
      });
      const final = await runner.finalChatCompletion();
      const call = final.choices[0]!.message.tool_calls![0]!;
      assert.equal(call.type, 'function');
      assert.equal(call.type === 'function' && call.function.name, 'get_weather');
      assert.deepEqual(JSON.parse(call.type === 'function' ? call.function.arguments : '{}'), {
        city: 'Paris',
        days: 42,
      });
      assert.equal(final.choices[0]!.finish_reason, 'tool_calls');
    });

    test('429 with retry-after is retried by the SDK and then succeeds', async () => {
      sim.setFault({ kind: 'rate_limit', count: 1, retryAfterS: 1 });
      const retrying = sdk('k-sim', 1);
      const before = sim.requests.length;
      const t = performance.now();
      const r = await retrying.chat.completions.create({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: 'hi' }],
      });
      assert.equal(r.choices[0]!.finish_reason, 'stop');
      assert.equal(sim.requests.length - before, 2);
      assert.ok(performance.now() - t >= 900, 'the SDK waited for retry-after');
    });

    test('429 surfaces as RateLimitError without retries', async () => {
      sim.setFault({ kind: 'rate_limit', count: 1, retryAfterS: 7 });
      await assert.rejects(
        client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
        (err: unknown) => {
          assert.ok(err instanceof OpenAI.RateLimitError);
          assert.equal(err.headers?.get('retry-after'), '7');
          return true;
        },
      );
    });

    test('500 surfaces as InternalServerError', async () => {
      sim.setFault({ kind: 'server_error', count: 1 });
      await assert.rejects(
        client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
        OpenAI.InternalServerError,
      );
    });

    test('a stream cut mid-way makes the SDK throw', async () => {
      sim.setFault({ kind: 'cut', count: 1, afterChunks: 2 });
      const stream = await client.chat.completions.create({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: 'a b c d e f' }],
        stream: true,
      });
      let chunks = 0;
      await assert.rejects(async () => {
        for await (const _ of stream) chunks++;
      });
      assert.ok(chunks >= 1 && chunks < 8, `got ${chunks} chunks before the cut`);
    });

    test('a wrong key is refused with 401', async () => {
      const bad = sdk('wrong', 0);
      await assert.rejects(
        bad.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
        OpenAI.AuthenticationError,
      );
    });
  });
}

describe('Azure simulator specifics', () => {
  test('the /openai/v1/ path with the plain OpenAI client and a Bearer key', async () => {
    const sim = await startSimulator({ kind: 'azure-openai', apiKey: 'k-v1' });
    try {
      const client = new OpenAI({ baseURL: `${sim.url}/openai/v1/`, apiKey: 'k-v1', maxRetries: 0 });
      const r = await client.chat.completions.create({
        model: 'dep-v1',
        messages: [{ role: 'user', content: 'hi' }],
      });
      assert.equal(r.choices[0]!.message.content, 'Simulated reply from azure/dep-v1: hi');
      assert.equal(sim.requests.at(-1)!.headers.authorization, 'Bearer k-v1');
    } finally {
      await sim.close();
    }
  });

  test('a filtered prompt is a BadRequestError with code content_filter', async () => {
    const sim = await startSimulator({ kind: 'azure-openai' });
    try {
      sim.setFault({ kind: 'content_filter', count: 1 });
      const client = new AzureOpenAI({
        endpoint: sim.url,
        apiKey: 'x',
        apiVersion: '2024-10-21',
        deployment: 'd',
        maxRetries: 0,
      });
      await assert.rejects(
        client.chat.completions.create({ model: 'd', messages: [{ role: 'user', content: 'hi' }] }),
        (err: unknown) => {
          assert.ok(err instanceof OpenAI.BadRequestError);
          assert.equal(err.code, 'content_filter');
          return true;
        },
      );
    } finally {
      await sim.close();
    }
  });
});
