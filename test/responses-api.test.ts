// POST /v1/responses, judged by the official `openai` SDK: its responses.create (output_text is
// computed by the SDK from the output items) and its strict responses.stream() helper, which
// throws when the response id changes or an output index is used before output_item.added.
// Served by Azure (OpenAI-family chunks) and, through the same translation, by any provider.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import type { UsageRecord } from '../src/store/index.js';
import { DEMO_KEY, flushed, type Stack, startStack } from './helpers/stack.js';

let stack: Stack;
let client: OpenAI;

async function usageFor(requestId: string | null): Promise<UsageRecord> {
  assert.ok(requestId);
  await flushed(stack);
  const rows = await stack.store.listUsage({ requestId });
  assert.equal(rows.length, 1);
  return rows[0]!;
}

const tools = [
  {
    type: 'function' as const,
    name: 'get_weather',
    strict: false,
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
  },
];

describe('the Responses API through the official openai SDK', () => {
  before(async () => {
    stack = await startStack();
    client = new OpenAI({ baseURL: stack.baseURL, apiKey: DEMO_KEY, maxRetries: 0 });
  });
  after(() => stack.close());

  test('responses.create: output_text, status, usage equal to the record', async () => {
    const { data, response } = await client.responses
      .create({ model: 'gpt-4o', instructions: 'Be brief.', input: 'Hello from the Responses API' })
      .withResponse();
    assert.match(data.id, /^resp_/);
    assert.equal(data.object, 'response');
    assert.equal(data.status, 'completed');
    assert.equal(data.output_text, 'Simulated reply from azure/gpt-4o-prod: Hello from the Responses API');
    const rec = await usageFor(response.headers.get('x-request-id'));
    assert.equal(data.usage!.input_tokens, rec.tokensInputUncached + rec.tokensInputCached);
    assert.equal(data.usage!.output_tokens, rec.tokensOutput + rec.tokensReasoning);
    assert.equal(data.usage!.total_tokens, data.usage!.input_tokens + data.usage!.output_tokens);
    // The upstream saw a chat request: instructions as the system message.
    const sent = stack.azure.requests.at(-1)!.body as { messages: { role: string; content: string }[] };
    assert.deepEqual(sent.messages[0], { role: 'system', content: 'Be brief.' });
  });

  test('responses.stream: the typed events in order, one response id, the final response', async () => {
    const types: string[] = [];
    const stream = client.responses.stream({ model: 'gpt-4o', input: 'Stream this answer please' });
    let text = '';
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === 'response.output_text.delta') text += ev.delta;
    }
    const final = await stream.finalResponse();
    assert.equal(text, 'Simulated reply from azure/gpt-4o-prod: Stream this answer please');
    // The helper's final response carries the items (output_text is computed by create() only).
    const msg = final.output.find((o) => o.type === 'message');
    assert.ok(msg && msg.type === 'message');
    assert.deepEqual(
      msg.content.map((c) => (c.type === 'output_text' ? c.text : '')),
      [text],
    );
    assert.equal(final.status, 'completed');
    assert.ok(final.usage && final.usage.output_tokens > 0);
    assert.deepEqual(types.slice(0, 4), [
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
    ]);
    assert.deepEqual(types.slice(-4), [
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
  });

  test('function tools: a call, whole and streamed, then its output sent back', async () => {
    const r = await client.responses.create({ model: 'gpt-4o', input: 'Weather in Paris', tools });
    const call = r.output.find((o) => o.type === 'function_call');
    assert.ok(call && call.type === 'function_call');
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.arguments), { city: 'Weather' });

    const s = client.responses.stream({ model: 'gpt-4o', input: 'Weather in Paris', tools });
    const final = await s.finalResponse();
    const sc = final.output.find((o) => o.type === 'function_call');
    assert.ok(sc && sc.type === 'function_call');
    assert.deepEqual(JSON.parse(sc.arguments), { city: 'Weather' });

    const next = await client.responses.create({
      model: 'gpt-4o',
      tools,
      input: [
        { role: 'user', content: 'Weather in Paris' },
        { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: 'function_call_output', call_id: call.call_id, output: '{"temp":21}' },
      ],
    });
    assert.equal(next.status, 'completed');
    const sent = stack.azure.requests.at(-1)!.body as { messages: { role: string; tool_call_id?: string }[] };
    assert.deepEqual(
      sent.messages.map((m) => m.role),
      ['user', 'assistant', 'tool'],
    );
    assert.equal(sent.messages[2]!.tool_call_id, call.call_id);
  });

  test('max_output_tokens cuts the answer: status incomplete, reason max_output_tokens', async () => {
    const r = await client.responses.create({
      model: 'gpt-4o',
      input: 'one two three four five six',
      max_output_tokens: 3,
    });
    assert.equal(r.status, 'incomplete');
    assert.equal(r.incomplete_details?.reason, 'max_output_tokens');
    assert.equal(r.output_text.split(' ').length, 3);
  });

  test('what cannot be served is refused with the parameter named', async () => {
    await assert.rejects(
      client.responses.create({ model: 'gpt-4o', input: 'x', previous_response_id: 'resp_123' }),
      (e: InstanceType<typeof OpenAI.APIError>) =>
        e.status === 400 && e.code === 'unsupported_parameter' && e.param === 'previous_response_id',
    );
    await assert.rejects(
      client.responses.create({ model: 'gpt-4o', input: 'x', tools: [{ type: 'web_search' }] }),
      (e: InstanceType<typeof OpenAI.APIError>) =>
        e.status === 400 && e.code === 'unsupported_parameter' && e.param === 'tools[0]',
    );
    await assert.rejects(
      client.responses.create({ model: 'gpt-4o', input: [] as never }),
      (e: InstanceType<typeof OpenAI.APIError>) =>
        e.status === 400 && e.code === 'invalid_request' && e.param === 'input',
    );
  });

  test('a stream that breaks mid-way ends with an error event the SDK raises', async () => {
    stack.azure.setFault({ kind: 'cut', count: 1, afterChunks: 3 });
    stack.gateway.context.health.success('azure-eastus/gpt-4o-prod');
    const s = client.responses.stream({ model: 'gpt-4o', input: 'a b c d e f g h' });
    await assert.rejects(s.finalResponse());
    stack.azure.setFault(null);
  });
});
