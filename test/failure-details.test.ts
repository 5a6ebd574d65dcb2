// Failure details an operator can act on: a deployment that refuses connections is named with
// the OS's code (in the tenant's message) and the host (in the log line); every attempt of a
// request is kept in its usage record and the requests view (deployment, how it ended, upstream
// status, error code, duration, and the host of a connection that failed). (A 404 from an upstream
// is `not_found`, not a credentials problem: test/provider-conformance.test.ts.)
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { type Logger, silentLogger } from '../src/observability/index.js';
import { DEMO_KEY, type Stack, startStack } from './helpers/stack.js';

const logged: { message: string; fields: Record<string, unknown> }[] = [];
const logger: Logger = {
  ...silentLogger,
  warn(message: string, fields: Record<string, unknown> = {}) {
    logged.push({ message, fields });
  },
};
let stack: Stack;

before(async () => {
  stack = await startStack({ logger });
});
after(() => stack.close());

test('a deployment refusing connections: the OS code for the tenant, the host in the log', async () => {
  const azureHost = new URL(stack.azure.url).host;
  await stack.azure.close();
  await stack.openai.close();
  const err = await new OpenAI({ baseURL: stack.baseURL, apiKey: DEMO_KEY, maxRetries: 0 }).chat.completions
    .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] })
    .catch((e: unknown) => e);
  assert.ok(err instanceof OpenAI.APIError);
  assert.equal(err.code, 'upstream_error');
  assert.match(err.message, /azure-eastus\/gpt-4o-prod \(azure\): connect \(ECONNREFUSED\)/);
  const line = logged.find(
    (l) => l.message === 'upstream attempt failed' && l.fields.deployment === 'azure-eastus/gpt-4o-prod',
  );
  assert.ok(line, 'the failed attempt is logged');
  assert.equal(line.fields.upstreamCode, 'ECONNREFUSED');
  assert.match(String(line.fields.message), new RegExp(`ECONNREFUSED from ${azureHost.replace('.', '\\.')}`));
  // The usage record keeps both attempts, each with the OS's code and the host.
  await stack.gateway.context.usageLog.flush();
  const [rec] = await stack.store.listUsage({ limit: 1 });
  assert.deepEqual(
    rec?.attemptLog?.map((a) => [a.deployment, a.outcome, a.status, a.code, a.host]),
    [
      ['azure-eastus/gpt-4o-prod', 'connect', null, 'ECONNREFUSED', azureHost],
      ['openai/gpt-4o-2024-11-20', 'connect', null, 'ECONNREFUSED', rec?.attemptLog?.[1]?.host],
    ],
  );
  assert.ok(rec?.attemptLog?.[1]?.host?.startsWith('127.0.0.1:'));
});

test('every attempt is kept: a 429 and a 500 in the record; a request served at once keeps none', async () => {
  const stack = await startStack();
  stack.azure.setFault({ kind: 'rate_limit', count: 1, retryAfterS: 1 });
  stack.openai.setFault({ kind: 'server_error', count: 1 });
  const client = new OpenAI({ baseURL: stack.baseURL, apiKey: DEMO_KEY, maxRetries: 0 });
  try {
    const failed = await client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    assert.ok(failed instanceof OpenAI.APIError && failed.status === 502);
    await stack.gateway.context.usageLog.flush();
    const [rec] = await stack.store.listUsage({ limit: 1 });
    assert.ok(rec?.attemptLog, JSON.stringify(rec));
    assert.deepEqual(
      rec.attemptLog.map((a) => [a.deployment, a.outcome, a.status, a.code]),
      [
        ['azure-eastus/gpt-4o-prod', 'rate_limited', 429, rec.attemptLog[0]!.code],
        ['openai/gpt-4o-2024-11-20', 'server', 500, rec.attemptLog[1]!.code],
      ],
    );
    assert.ok(rec.attemptLog.every((a) => a.durationMs >= 0 && a.durationMs < 10_000));
    assert.equal(rec.attempts, 2);
    // A request served at once keeps no log: its deployment and status are its one attempt.
    await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
    });
    await stack.gateway.context.usageLog.flush();
    const [served] = await stack.store.listUsage({ limit: 1 });
    assert.equal(served?.attemptLog, undefined);
    assert.equal(served?.status, 200);
  } finally {
    await stack.close();
  }
});
