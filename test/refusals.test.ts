// Refusals that used to leave no trace, and connection caps: a request refused 503 shutting_down
// while the server drains, and one that hits a bug (500 internal_error), each get a usage record
// for their tenant; a client past its connection cap gets a coded 503, and everyone else is served.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, test } from 'node:test';
import OpenAI from 'openai';
import { eventually } from './helpers/eventually.js';
import { DEMO_KEY, startStack } from './helpers/stack.js';

const stacks: { close(): Promise<void> }[] = [];
after(() => Promise.all(stacks.map((s) => s.close())));

test('a request refused while the gateway drains gets 503 shutting_down and a usage record', async () => {
  const stack = await startStack();
  const port = Number(new URL(stack.url).port);
  // Draining stops new connections and closes idle ones; a request can still arrive on a busy
  // connection. One request is held (gpt-4o-mini's only deployment hangs until its 2 s header
  // timeout), and a second is pipelined behind it once the drain has begun.
  stack.openai.setFault({ kind: 'hang' });
  const { socket, data } = await open(port);
  const request = (model: string) => {
    const body = JSON.stringify({ model, messages: [{ role: 'user', content: 'x' }] });
    return `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${DEMO_KEY}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  };
  socket.write(request('gpt-4o-mini'));
  await eventually(() => stack.openai.requests.length > 0, 'the held request to reach the upstream');
  const closing = stack.gateway.close();
  socket.write(request('gpt-4o'));
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await closing;
  const answers = data().split(/(?=HTTP\/1\.1 )/);
  assert.equal(answers.length, 2, data());
  assert.match(answers[1]!, /^HTTP\/1\.1 503 /);
  assert.match(answers[1]!, /"code":"shutting_down"/);
  const id = /x-request-id: (\S+)/i.exec(answers[1]!)![1]!;
  const [rec] = await stack.store.listUsage({ requestId: id });
  assert.ok(rec, 'the refusal has a usage record');
  assert.equal(rec.status, 503);
  assert.equal(rec.errorCode, 'shutting_down');
  assert.equal(rec.tenantId, 'acme');
  stack.openai.setFault(null);
  await Promise.all([stack.azure.close(), stack.openai.close()]);
  await stack.store.close();
});

test('a bug in the pipeline answers 500 internal_error, in the OpenAI shape, with a usage record', async () => {
  const stack = await startStack({
    events: {
      onFailover: () => {
        throw new Error('a bug standing in for any exception no stage caught');
      },
    },
  });
  stacks.push(stack);
  stack.azure.setFault({ kind: 'server_error', count: 1 });
  const client = new OpenAI({ baseURL: stack.baseURL, apiKey: DEMO_KEY, maxRetries: 0 });
  const err = await client.chat.completions
    .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })
    .catch((e: unknown) => e);
  assert.ok(err instanceof OpenAI.InternalServerError);
  assert.equal(err.code, 'internal_error');
  const id = err.headers?.get('x-request-id');
  assert.ok(id);
  await stack.gateway.context.usageLog.flush();
  const [rec] = await stack.store.listUsage({ requestId: id });
  assert.equal(rec?.status, 500);
  assert.equal(rec?.errorCode, 'internal_error');
  assert.equal(rec?.model, 'gpt-4o');
  // The gateway keeps serving.
  const ok = await client.chat.completions.create({
    model: 'gpt-4o',
    messages: [{ role: 'user', content: 'y' }],
  });
  assert.equal(ok.object, 'chat.completion');
});

/** Opens a TCP connection and resolves once it is established (or the server answered and closed). */
function open(port: number): Promise<{ socket: Socket; data: () => string }> {
  return new Promise((resolve, reject) => {
    let received = '';
    const socket = connect(port, '127.0.0.1');
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      received += d;
    });
    socket.once('connect', () => resolve({ socket, data: () => received }));
    socket.once('error', reject);
  });
}

test('past the per-client connection cap a new connection gets 503 too_many_connections; freed, it is served', async () => {
  const stack = await startStack({ server: '  maxConnectionsPerClient: 3' });
  stacks.push(stack);
  const port = Number(new URL(stack.url).port);
  const held = [await open(port), await open(port), await open(port)];
  const extra = await open(port);
  await new Promise<void>((resolve) => extra.socket.once('close', () => resolve()));
  assert.match(extra.data(), /^HTTP\/1\.1 503 /);
  assert.match(extra.data(), /"code":"too_many_connections"/);
  assert.match(extra.data(), /server\.maxConnectionsPerClient/);
  const probe = await fetch(`${stack.url}/healthz`);
  assert.equal(probe.status, 503, 'the cap holds for every route');
  assert.equal(((await probe.json()) as { error: { code: string } }).error.code, 'too_many_connections');
  // Freeing one lets the next connection in.
  const closed = new Promise<void>((resolve) => held[0]!.socket.once('close', () => resolve()));
  held[0]!.socket.destroy();
  await closed;
  await eventually(
    async () => (await fetch(`${stack.url}/healthz`, { headers: { connection: 'close' } })).status === 200,
    'a freed connection to make room',
  );
  for (const h of held) h.socket.destroy();
});
