// Traces and logs. An in-process OTLP/HTTP collector receives the spans of a request that failed
// over: the gateway span (a child of the caller's traceparent), the route decision, and one client
// span per upstream attempt, the failed one marked as an error. The access log: one JSON line per
// request with its id and route, never the API key, and the prompt only when logPrompts is on.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { createLogger } from '../src/observability/index.js';
import { DEMO_KEY, type Stack, startStack } from './helpers/stack.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: Record<string, string | number | boolean> }[];
  status: { code: number; message?: string };
}

const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v ? Object.values(v)[0] : undefined;
};

describe('OpenTelemetry traces over OTLP', () => {
  let collector: Server;
  const received: OtlpSpan[] = [];
  const bodies: unknown[] = [];
  let stack: Stack;

  before(async () => {
    collector = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        assert.equal(req.url, '/v1/traces');
        assert.equal(req.headers['content-type'], 'application/json');
        assert.equal(req.headers['x-collector-key'], 'k1');
        const body = JSON.parse(Buffer.concat(chunks).toString()) as {
          resourceSpans: { resource: unknown; scopeSpans: { spans: OtlpSpan[] }[] }[];
        };
        bodies.push(body);
        for (const rs of body.resourceSpans) for (const ss of rs.scopeSpans) received.push(...ss.spans);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
    const port = (collector.address() as AddressInfo).port;
    stack = await startStack({
      extraYaml: `observability: { otlp: { endpoint: "http://127.0.0.1:${port}", headers: { x-collector-key: k1 }, flushIntervalMs: 50 } }`,
    });
  });
  after(async () => {
    await stack.close();
    collector.close();
  });

  test('a request that failed over: gateway, route and two attempt spans, linked to the caller', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const callerSpan = '00f067aa0ba902b7';
    const client = new OpenAI({
      baseURL: stack.baseURL,
      apiKey: DEMO_KEY,
      maxRetries: 0,
      defaultHeaders: { traceparent: `00-${traceId}-${callerSpan}-01` },
    });
    stack.azure.setFault({ kind: 'server_error', count: 1 });
    const { response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'trace me' }] })
      .withResponse();
    assert.equal(response.headers.get('x-entente-attempts'), '2');
    await stack.gateway.context.tracer.flush();
    const spans = received.filter((s) => s.traceId === traceId);
    const server = spans.filter((s) => s.kind === 2);
    assert.equal(server.length, 1);
    const root = server[0]!;
    assert.equal(root.name, 'POST /v1/chat/completions');
    assert.equal(root.parentSpanId, callerSpan, "a child of the caller's span");
    assert.equal(attr(root, 'entente.request_id'), response.headers.get('x-request-id'));
    assert.equal(attr(root, 'http.response.status_code'), 200);
    assert.equal(attr(root, 'entente.attempts'), 2);
    assert.equal(attr(root, 'gen_ai.request.model'), 'gpt-4o');
    assert.equal(root.status.code, 0);

    const route = spans.filter((s) => s.name === 'route');
    assert.equal(route.length, 1);
    assert.equal(route[0]!.parentSpanId, root.spanId);
    assert.equal(attr(route[0]!, 'entente.route.order'), 'azure-eastus/gpt-4o-prod,openai/gpt-4o-2024-11-20');

    const attempts = spans
      .filter((s) => s.kind === 3)
      .sort((a, b) => Number(attr(a, 'entente.attempt')) - Number(attr(b, 'entente.attempt')));
    assert.equal(attempts.length, 2);
    const [failed, served] = attempts as [OtlpSpan, OtlpSpan];
    for (const a of attempts) {
      assert.equal(a.parentSpanId, root.spanId);
      assert.ok(BigInt(a.startTimeUnixNano) >= BigInt(root.startTimeUnixNano));
      assert.ok(BigInt(a.endTimeUnixNano) <= BigInt(root.endTimeUnixNano));
      assert.ok(BigInt(a.endTimeUnixNano) >= BigInt(a.startTimeUnixNano));
    }
    assert.equal(attr(failed, 'entente.cloud'), 'azure');
    assert.equal(attr(failed, 'gen_ai.system'), 'az.ai.openai');
    assert.equal(attr(failed, 'error.type'), 'server');
    assert.equal(attr(failed, 'http.response.status_code'), 500);
    assert.equal(failed.status.code, 2);
    assert.equal(attr(served, 'entente.cloud'), 'openai');
    assert.equal(attr(served, 'gen_ai.system'), 'openai');
    assert.equal(served.status.code, 0);
    await stack.gateway.context.usageLog.flush();
    const [rec] = await stack.store.listUsage({ requestId: response.headers.get('x-request-id')! });
    assert.equal(
      attr(served, 'gen_ai.usage.input_tokens'),
      rec!.tokensInputUncached + rec!.tokensInputCached,
    );
    assert.equal(attr(served, 'gen_ai.usage.output_tokens'), rec!.tokensOutput + rec!.tokensReasoning);
    const resource = (bodies[0] as { resourceSpans: { resource: { attributes: { key: string }[] } }[] })
      .resourceSpans[0]!.resource;
    assert.ok(resource.attributes.some((a) => a.key === 'service.name'));
  });

  test('embeddings get the same spans: the request, and its upstream attempt', async () => {
    const client = new OpenAI({ baseURL: stack.baseURL, apiKey: DEMO_KEY, maxRetries: 0 });
    const { response } = await client.embeddings.create({ model: 'gpt-4o', input: 'span me' }).withResponse();
    await stack.gateway.context.tracer.flush();
    const root = received.find(
      (s) => attr(s, 'entente.request_id') === response.headers.get('x-request-id'),
    )!;
    assert.equal(root.name, 'POST /v1/embeddings');
    assert.equal(attr(root, 'gen_ai.operation.name'), 'embeddings');
    const children = received.filter((s) => s.parentSpanId === root.spanId && s.kind === 3);
    assert.equal(children.length, 1);
    assert.equal(attr(children[0]!, 'gen_ai.usage.input_tokens'), 2);
  });

  test('without a traceparent, each request starts its own trace', async () => {
    const client = new OpenAI({ baseURL: stack.baseURL, apiKey: DEMO_KEY, maxRetries: 0 });
    const before = received.length;
    await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'x' }],
    });
    await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'y' }],
    });
    await stack.gateway.context.tracer.flush();
    const roots = received.slice(before).filter((s) => s.kind === 2);
    assert.equal(roots.length, 2);
    assert.notEqual(roots[0]!.traceId, roots[1]!.traceId);
    assert.ok(roots.every((r) => /^[0-9a-f]{32}$/.test(r.traceId) && r.parentSpanId === ''));
  });
});

describe('structured JSON logs', () => {
  for (const logPrompts of [false, true]) {
    test(`one line per request; never the key${logPrompts ? '; the prompt when logPrompts is on' : ', never the prompt'}`, async () => {
      const lines: string[] = [];
      const stack = await startStack({
        logger: createLogger('info', (l) => lines.push(l)),
        extraYaml: `observability: { logPrompts: ${logPrompts} }`,
      });
      try {
        const client = new OpenAI({ baseURL: stack.baseURL, apiKey: DEMO_KEY, maxRetries: 0 });
        const { response } = await client.chat.completions
          .create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'SECRET-PROMPT-7d1f please' }] })
          .withResponse();
        await client.chat.completions
          .create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] })
          .catch(() => undefined);
        const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
        const requests = parsed.filter((p) => p.msg === 'request');
        assert.equal(requests.length, 2);
        const ok = requests.find((r) => r.requestId === response.headers.get('x-request-id'))!;
        assert.equal(ok.status, 200);
        assert.equal(ok.cloud, 'azure');
        assert.equal(ok.model, 'gpt-4o');
        assert.equal(ok.keyId, 'acme-all');
        assert.ok(typeof ok.time === 'string' && ok.level === 'info');
        assert.equal(requests.find((r) => r.requestId !== ok.requestId)!.errorCode, 'model_not_found');
        const all = lines.join('');
        assert.ok(!all.includes(DEMO_KEY), 'the API key is never logged');
        assert.ok(!all.includes('azure-secret'), 'the upstream key is never logged');
        assert.equal(all.includes('SECRET-PROMPT-7d1f'), logPrompts);
      } finally {
        await stack.close();
      }
    });
  }
});
