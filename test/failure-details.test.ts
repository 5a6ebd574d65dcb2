// Failure details an operator can act on: a deployment that refuses connections is named with
// the OS's code (in the tenant's message) and the host (in the log line). (A 404 from an upstream
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
});
