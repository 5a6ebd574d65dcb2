// Bad input gets a 4xx with a stable code in the OpenAI error shape, and the server stays up.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { errorCatalogue } from '../src/errors/index.js';
import { eventually } from './helpers/eventually.js';
import { DEMO_KEY, type Stack, startStack } from './helpers/stack.js';

let stack: Stack;

async function post(body: string | Buffer, headers: Record<string, string> = {}) {
  const r = await fetch(`${stack.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json', ...headers },
    body,
  });
  const json = (await r.json()) as {
    error: { code: string; type: string; message: string; param: string | null };
  };
  return { status: r.status, json, headers: r.headers };
}

/** Sends raw bytes and returns the raw response text. */
function raw(bytes: string): Promise<string> {
  const u = new URL(stack.url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname, () => s.write(bytes));
    let out = '';
    s.on('data', (d) => {
      out += d.toString();
    });
    s.on('end', () => resolve(out));
    s.on('close', () => resolve(out));
    s.on('error', reject);
  });
}

/** Starts a chat stream from the Azure simulator paced at `tokensPerSecond`. */
function streamAt(tokensPerSecond: number, content: string, signal?: AbortSignal) {
  stack.azure.settings.tokensPerSecond = tokensPerSecond;
  return fetch(`${stack.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${DEMO_KEY}` },
    body: JSON.stringify({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content }] }),
    ...(signal ? { signal } : {}),
  });
}

async function usageRecord(requestId: string) {
  await stack.gateway.context.usageLog.flush();
  const [rec] = await stack.store.listUsage({ requestId });
  return rec;
}

async function stillUp() {
  const r = await fetch(`${stack.url}/healthz`);
  assert.equal(r.status, 200);
}

describe('bad input', () => {
  before(async () => {
    stack = await startStack({
      server: '  bodyLimitBytes: 2048\n  headerLimitBytes: 4096\n  streamMaxDurationMs: 1500',
    });
  });
  after(() => stack.close());

  const cases: [string, string, number, string, string | null][] = [
    ['malformed JSON', '{"model": "gpt-4o", "messages": [', 400, 'invalid_json', null],
    ['a JSON array', '[1,2]', 400, 'invalid_request', null],
    ['messages of the wrong type', '{"model":"gpt-4o","messages":"hi"}', 400, 'invalid_request', 'messages'],
    ['no messages', '{"model":"gpt-4o","messages":[]}', 400, 'invalid_request', 'messages'],
    [
      'an unknown role',
      '{"model":"gpt-4o","messages":[{"role":"wizard","content":"x"}]}',
      400,
      'invalid_request',
      'messages[0].role',
    ],
    [
      'temperature out of range',
      '{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"temperature":7}',
      400,
      'invalid_request',
      'temperature',
    ],
    [
      'max_tokens not an integer',
      '{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"max_tokens":1.5}',
      400,
      'invalid_request',
      'max_tokens',
    ],
    [
      'a tool message without tool_call_id',
      '{"model":"gpt-4o","messages":[{"role":"tool","content":"x"}]}',
      400,
      'invalid_request',
      'messages[0].tool_call_id',
    ],
    [
      'an image that is not a URL',
      '{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"file:///etc/passwd"}}]}]}',
      400,
      'invalid_request',
      'messages[0].content',
    ],
    ['a missing model', '{"messages":[{"role":"user","content":"x"}]}', 400, 'invalid_request', 'model'],
    [
      'an unknown model',
      '{"model":"gpt-9","messages":[{"role":"user","content":"x"}]}',
      404,
      'model_not_found',
      'model',
    ],
  ];
  for (const [name, body, status, code, param] of cases) {
    test(`${name} → ${status} ${code}`, async () => {
      const r = await post(body);
      assert.equal(r.status, status);
      assert.equal(r.json.error.code, code);
      assert.equal(r.json.error.type, errorCatalogue[code as keyof typeof errorCatalogue].type);
      if (param)
        assert.ok(r.json.error.param?.startsWith(param), `param ${r.json.error.param} names ${param}`);
      assert.ok(r.json.error.message.length > 10);
      assert.match(r.headers.get('x-request-id') ?? '', /^req_[0-9a-f]{32}$/);
      await stillUp();
    });
  }

  test('an oversized body → 413 body_too_large, declared or streamed', async () => {
    const big = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x'.repeat(5000) }] });
    const r = await post(big);
    assert.equal(r.status, 413);
    assert.equal(r.json.error.code, 'body_too_large');
    // Chunked, with no content-length: cut off as it passes the limit.
    const res = await raw(
      `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${DEMO_KEY}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n1388\r\n${'y'.repeat(5000)}\r\n0\r\n\r\n`,
    );
    assert.match(res, /^HTTP\/1.1 413/);
    assert.match(res, /"code":"body_too_large"/);
    await stillUp();
  });

  test('oversized headers → 431 headers_too_large in the OpenAI shape', async () => {
    const res = await raw(`GET /v1/models HTTP/1.1\r\nhost: x\r\nx-big: ${'z'.repeat(8000)}\r\n\r\n`);
    assert.match(res, /^HTTP\/1.1 431/);
    assert.match(res, /"code":"headers_too_large"/);
    await stillUp();
  });

  test('a malformed HTTP request → 400 and the server stays up', async () => {
    const res = await raw('THIS IS NOT HTTP\r\n\r\n');
    assert.match(res, /^HTTP\/1.1 400/);
    await stillUp();
  });

  test('unknown routes and wrong methods', async () => {
    const a = await fetch(`${stack.url}/v2/whatever`);
    assert.equal(a.status, 404);
    assert.equal(((await a.json()) as { error: { code: string } }).error.code, 'not_found');
    const b = await fetch(`${stack.baseURL}/chat/completions`, {
      headers: { authorization: `Bearer ${DEMO_KEY}` },
    });
    assert.equal(b.status, 405);
    assert.equal(b.headers.get('allow'), 'POST');
  });

  test('a client that disconnects mid-stream does not crash the gateway, and its usage is recorded', async () => {
    try {
      const ac = new AbortController();
      const r = await streamAt(50, 'a b c d e f g h i j k l', ac.signal);
      await r.body!.getReader().read();
      ac.abort();
      const id = r.headers.get('x-request-id')!;
      await eventually(
        async () => (await usageRecord(id))?.errorCode === 'client_closed',
        'the 499 usage record',
      );
      await stillUp();
    } finally {
      stack.azure.settings.tokensPerSecond = 0;
    }
  });

  test('a stream longer than streamMaxDurationMs is ended with a coded error event', async () => {
    try {
      const r = await streamAt(5, 'one two three four five six seven eight nine ten');
      const text = await r.text();
      assert.match(text, /data: \{"error":\{[^\n]*"code":"stream_duration_exceeded"/);
      assert.doesNotMatch(text, /\[DONE\]/);
      assert.equal(
        (await usageRecord(r.headers.get('x-request-id')!))?.errorCode,
        'stream_duration_exceeded',
      );
    } finally {
      stack.azure.settings.tokensPerSecond = 0;
    }
  });

  test('a bad Authorization scheme is a missing key, not a crash', async () => {
    const r = await post('{}', { authorization: 'Basic Zm9vOmJhcg==' });
    assert.equal(r.status, 401);
    assert.equal(r.json.error.code, 'missing_api_key');
  });
});
