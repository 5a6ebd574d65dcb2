// Limits on one node, judged by the official openai SDK: a sliding requests-per-minute window
// with OpenAI's x-ratelimit-* headers and a 429 the SDK raises as RateLimitError; tokens per
// minute with the configured default output bound (sent upstream, said in x-entente-max-tokens)
// and settled to the actual count; a cut stream settles what was delivered; requests in flight;
// a key's budget set live through the admin API, never passed (checked against the ledger); and
// hostile limit definitions refused with a coded 400. Time is a ManualClock: no sleeps.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { ManualClock } from '../src/clock/index.js';
import { parseConfigText } from '../src/config/index.js';
import { eventually } from './helpers/eventually.js';
import { metered } from './helpers/prices.js';
import { DEMO_KEY, flushed, LIMITED_KEY, type Stack, startStack } from './helpers/stack.js';

const ADMIN_KEY = 'sk-limits-admin';
const LIMITS = `limits:
  defaultMaxTokens: 50
  rules:
    - { id: acme-rpm, scope: { tenant: acme, model: gpt-4o }, requestsPerMinute: 3 }
    - { id: mini-tpm, scope: { key: acme-limited }, tokensPerMinute: 200 }
    - { id: globex-inflight, scope: { tenant: globex }, concurrentRequests: 2 }`;
const GLOBEX_KEY = 'sk-test-globex-key';
const clock = new ManualClock(Date.UTC(2026, 11, 2, 12));
let stack: Stack;

const sdk = (key: string) => new OpenAI({ baseURL: stack.baseURL, apiKey: key, maxRetries: 0 });

async function admin(method: string, path: string, body?: unknown) {
  const r = await fetch(`${stack.url}/v1/entente${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return {
    status: r.status,
    json: (await r.json()) as Record<string, unknown> & { error?: { code: string; message: string } },
  };
}

async function ask(key: string, body: Record<string, unknown> = {}) {
  return sdk(key)
    .chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], ...body })
    .withResponse();
}

describe('limits on one node', () => {
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'entente-limits-'));
    const metering = metered(dir, 50);
    stack = await startStack({
      server: `  adminKeySha256: ${createHash('sha256').update(ADMIN_KEY).digest('hex')}`,
      dataDir: dir,
      clock,
      tenantsYaml: `  - id: globex\n    keys:\n      - { id: globex-all, sha256: ${createHash('sha256').update(GLOBEX_KEY).digest('hex')} }`,
      extraYaml: `${metering.ledgerYaml}\n${LIMITS}`,
      priceBooks: metering.priceBooks,
    });
    // A long scripted reply: max_tokens decides how many output tokens a request uses.
    stack.azure.settings.reply = Array.from({ length: 200 }, (_, i) => `w${i}`).join(' ');
    stack.openai.settings.reply = stack.azure.settings.reply;
  });
  after(() => stack.close());

  test('requests per minute: a sliding window, OpenAI headers, and a 429 the SDK raises', async () => {
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { response } = await ask(DEMO_KEY, { max_tokens: 5 });
      seen.push(response.headers.get('x-ratelimit-remaining-requests')!);
      assert.equal(response.headers.get('x-ratelimit-limit-requests'), '3');
      clock.advance(10_000);
    }
    assert.deepEqual(seen, ['2', '1', '0']);
    const err = await ask(DEMO_KEY, { max_tokens: 5 }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.RateLimitError, String(err));
    assert.equal(err.code, 'rate_limited');
    assert.match(err.message, /tenant 'acme' × model 'gpt-4o' \(rule acme-rpm\): 3 requests per minute/);
    // The first request leaves the window 60 s after it was admitted: 30 s from now.
    assert.equal(err.headers?.get('retry-after'), '30');
    assert.equal(err.headers?.get('x-ratelimit-remaining-requests'), '0');
    clock.advance(29_999);
    assert.ok(
      (await ask(DEMO_KEY, { max_tokens: 5 }).catch((e: unknown) => e)) instanceof OpenAI.RateLimitError,
    );
    clock.advance(1);
    const { response } = await ask(DEMO_KEY, { max_tokens: 5 });
    assert.equal(response.headers.get('x-ratelimit-remaining-requests'), '0');
    // Another model is outside the rule: no headers, no limit.
    const mini = await sdk(DEMO_KEY)
      .chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    assert.equal(mini.response.headers.get('x-ratelimit-limit-requests'), null);
    clock.advance(60_000);
  });

  test('tokens per minute: the default output bound is sent upstream, and settling frees the rest', async () => {
    const client = sdk(LIMITED_KEY);
    const first = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })
      .withResponse();
    assert.equal(first.response.headers.get('x-entente-max-tokens'), '50');
    const sent = stack.openai.requests.at(-1)!.body as { max_completion_tokens?: number };
    assert.equal(sent.max_completion_tokens, 50, 'the upstream was asked for at most 50 tokens');
    // Reserved: prompt bound 3 + 4 + len("user") + len("hi") = 13, plus 50 output tokens.
    assert.equal(first.response.headers.get('x-ratelimit-remaining-tokens'), String(200 - 63));
    assert.equal(first.data.usage?.completion_tokens, 50);
    // Settled to 7 prompt + 50 output = 57: the next reservation sees 200 − 57 − 63 = 80 left.
    const second = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 50 })
      .withResponse();
    assert.equal(second.response.headers.get('x-entente-max-tokens'), null, 'the client set its own bound');
    assert.equal(second.response.headers.get('x-ratelimit-remaining-tokens'), String(200 - 57 - 63));
    // 57 + 57 used; a third worst case of 13 + 100 does not fit.
    const err = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 })
      .catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.RateLimitError);
    assert.match(err.message, /200 tokens per minute; this request reserves 113/);
    // More than the whole limit can never pass, and says so.
    const never = await client.chat.completions
      .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 500 })
      .catch((e: unknown) => e);
    assert.ok(never instanceof OpenAI.RateLimitError);
    assert.equal(never.headers?.get('retry-after'), null);
    assert.match(never.message, /Lower max_tokens/);
    clock.advance(60_000);
  });

  test('a stream the client cuts settles what was delivered, and frees the rest', async () => {
    stack.openai.settings.tokensPerSecond = 50;
    try {
      const client = sdk(LIMITED_KEY);
      const stream = await client.chat.completions.create({
        model: 'gpt-4o-mini',
        messages: [{ role: 'user', content: 'hi' }],
        max_tokens: 150,
        stream: true,
      });
      let chunks = 0;
      for await (const c of stream) {
        if (c.choices[0]?.delta.content) chunks++;
        if (chunks === 3) break; // hangs up
      }
      // finish() settles before it writes the usage record: once the record is stored, the
      // window holds what was delivered, far less than the 163 reserved.
      await eventually(async () => {
        await flushed(stack);
        const [last] = await stack.store.listUsage({ limit: 1 });
        return last?.keyId === 'acme-limited' && last.status === 499;
      }, "the cut stream's usage record");
      const r = await client.chat.completions
        .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 })
        .withResponse();
      const left = Number(r.response.headers.get('x-ratelimit-remaining-tokens'));
      assert.ok(left >= 200 - 7 - 20 - 14, `remaining ${left}: the stream's hold was not settled`);
    } finally {
      stack.openai.settings.tokensPerSecond = 0;
      clock.advance(60_000);
    }
  });

  test('requests in flight: the third concurrent request is refused, a finished one frees its place', async () => {
    stack.azure.settings.latencyMs = 300;
    try {
      const before = stack.azure.requests.length;
      const calls = [ask(GLOBEX_KEY, { max_tokens: 3 }), ask(GLOBEX_KEY, { max_tokens: 3 })];
      await eventually(() => stack.azure.requests.length >= before + 2, 'two requests upstream');
      const third = await ask(GLOBEX_KEY, { max_tokens: 3 }).catch((e: unknown) => e);
      assert.ok(third instanceof OpenAI.RateLimitError);
      assert.match(third.message, /2 requests in flight/);
      await Promise.all(calls);
      await ask(GLOBEX_KEY, { max_tokens: 3 });
    } finally {
      stack.azure.settings.latencyMs = 0;
    }
  });

  test("a key's budget, set live, is never passed: checked against the ledger", async () => {
    const c = await admin('POST', '/keys', {
      tenant: 'acme',
      id: 'budgeted',
      models: ['gpt-4o-mini'],
      limits: { budget: { amount: '0.000100', period: 'month' } },
    });
    assert.equal(c.status, 201, JSON.stringify(c.json));
    const client = sdk(c.json.key as string);
    // Worst case: 13 × 0.15 + 20 × 0.60 = 13.95 µUSD → 14 reserved; actual 7 × 0.15 + 20 × 0.60 =
    // 13.05 → 14 settled. 100 / 14 = 7 requests; the 8th would pass the budget.
    let admitted = 0;
    let refusal: unknown = null;
    for (let i = 0; i < 10 && !refusal; i++) {
      await client.chat.completions
        .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }], max_tokens: 20 })
        .then(
          () => admitted++,
          (e: unknown) => {
            refusal = e;
          },
        );
    }
    assert.equal(admitted, 7);
    assert.ok(refusal instanceof OpenAI.RateLimitError);
    assert.equal(refusal.code, 'budget_exceeded');
    assert.equal(refusal.headers?.get('x-should-retry'), 'false');
    assert.match(refusal.message, /Budget of key 'budgeted' \(rule key:budgeted\) is 0\.000100 USD/);
    assert.match(refusal.message, /The period ends at 2027-01-01T00:00:00\.000Z/);
    await flushed(stack);
    await stack.gateway.context.usageLog.flush();
    const spend = (await stack.store.spendByScope(Date.UTC(2026, 11, 1), Date.UTC(2027, 0, 1))).filter(
      (r) => r.keyId === 'budgeted',
    );
    const booked = spend.reduce((a, r) => a + r.micros, 0n);
    assert.ok(booked > 0n && booked <= 100n, `the ledger booked ${booked} µUSD against a budget of 100`);
    const limits = await admin('GET', '/limits?key=budgeted');
    const rule = (
      limits.json.limits as { id: string; budget: { spent: string; held: string; remaining: string } }[]
    ).find((r) => r.id === 'key:budgeted')!;
    assert.deepEqual([rule.budget.spent, rule.budget.held], ['0.000098', '0.000000']);
    // A page of keys: the rules that name those keys only, and their spend only.
    const page = await admin('GET', '/limits?keys=budgeted,no-such-key');
    const ids = (page.json.limits as { id: string; budget: { spent: string } | null }[]).map((r) => r.id);
    assert.deepEqual(ids, ['key:budgeted']);
    type ByKey = { byKey: { name: string; spent: string }[] };
    const every = ((await admin('GET', '/spend?window=30d')).json as unknown as ByKey).byKey;
    const spent = (await admin('GET', '/spend?window=30d&keys=budgeted,no-such-key'))
      .json as unknown as ByKey;
    assert.ok(every.length > 1);
    assert.deepEqual(
      spent.byKey,
      every.filter((k) => k.name === 'budgeted'),
      "the key's spend, as in the spend of every key",
    );
    assert.deepEqual(
      ((await admin('GET', '/spend?window=30d&keys=no-such-key')).json.byKey as unknown[]).length,
      0,
    );
    for (const path of ['/limits', '/spend?window=30d&'].map((p) => `${p}${p.includes('?') ? '' : '?'}`))
      for (const keys of ['', 'a,,b', 'Bad', 'a b', "a'--", `${'k,'.repeat(200)}k`, 'x'.repeat(65)]) {
        const r = await admin('GET', `${path}keys=${encodeURIComponent(keys)}`);
        assert.equal(r.status, 400, `${path} keys=${keys.slice(0, 20)}`);
        assert.equal(r.json.error?.code, 'invalid_request');
      }
    // Every rule in id order, once; page by page, the same rules.
    type Page = { limits: { id: string }[]; next: string | null };
    const whole = (await admin('GET', '/limits')).json as unknown as Page;
    const ruleIds = whole.limits.map((r) => r.id);
    assert.equal(whole.next, null);
    assert.ok(ruleIds.length >= 3);
    assert.deepEqual(ruleIds, [...new Set(ruleIds)].sort(), 'in id order, each once');
    const paged: string[] = [];
    for (let after: string | null = null, i = 0; i <= ruleIds.length; i++) {
      const p = (await admin('GET', `/limits?limit=2${after ? `&after=${encodeURIComponent(after)}` : ''}`))
        .json as unknown as Page;
      paged.push(...p.limits.map((r) => r.id));
      after = p.next;
      if (after === null) break;
      assert.equal(after, paged.at(-1));
    }
    assert.deepEqual(paged, ruleIds);
    for (const q of [
      'limit=0',
      'limit=1001',
      'limit=x',
      'limit=',
      'after=',
      'after=nope',
      `after=key:${'a'.repeat(400)}`,
    ]) {
      const r = await admin('GET', `/limits?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.json.error?.code, 'invalid_request');
    }
    for (const q of ['window=1y', 'window=', 'window=30D']) {
      const r = await admin('GET', `/spend?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal((r.json.error as { param?: string } | undefined)?.param, 'window');
    }
    // The largest groups only, with how many there are: the answer does not grow with the keys.
    type Summary = ByKey & { total: string; counts: { keys: number; tenants: number } };
    const whole30d = (await admin('GET', '/spend?window=30d')).json as unknown as Summary;
    const top1 = (await admin('GET', '/spend?window=30d&top=1')).json as unknown as Summary;
    assert.equal(whole30d.counts.keys, every.length);
    assert.deepEqual(top1.byKey, [every[0]]);
    assert.deepEqual([top1.counts, top1.total], [whole30d.counts, whole30d.total]);
    const bySpend = [...every].sort((x, y) => Number(y.spent) - Number(x.spent));
    assert.deepEqual(
      every.map((k) => k.spent),
      bySpend.map((k) => k.spent),
      'largest first',
    );
    for (const q of ['top=0', 'top=1001', 'top=-1', 'top=1.5', 'top=1e2', 'top=abc', 'top=', 'top=00001']) {
      const r = await admin('GET', `/spend?window=30d&${q}`);
      assert.equal(r.status, 400, q);
      assert.equal((r.json.error as { param?: string } | undefined)?.param, 'top');
    }
    // Raising the budget live admits the key again, without a restart.
    const raised = await admin('POST', '/keys/limits/budgeted', {
      budget: { amount: '0.001', period: 'month' },
    });
    assert.equal(raised.status, 200);
    await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 20,
    });
  });

  test('hostile limit definitions are refused with a coded 400, each naming the field', async () => {
    const bad: [unknown, RegExp][] = [
      [{ requestsPerMinute: 0 }, /requestsPerMinute/],
      [{ requestsPerMinute: -5 }, /requestsPerMinute/],
      [{ requestsPerMinute: 1.5 }, /requestsPerMinute/],
      [{ tokensPerMinute: '100' }, /tokensPerMinute/],
      [{}, /at least one/],
      [{ budget: { amount: '0', period: 'month' } }, /more than zero/],
      [{ budget: { amount: '-1', period: 'month' } }, /amount/],
      [{ budget: { amount: '1.1234567', period: 'month' } }, /amount/],
      [{ budget: { amount: '1e3', period: 'month' } }, /amount/],
      [{ budget: { amount: '10', period: 'week' } }, /period/],
      [{ budget: { amount: '10', period: { days: 0, from: '2026-01-01' } } }, /period/],
      [{ budget: { amount: '10', period: 'month', alertAt: [1.5] } }, /alertAt/],
      [{ budget: { amount: '10' } }, /period/],
      [{ models: { 'no-such-model': { requestsPerMinute: 1 } } }, /not in the catalog/],
      [{ models: { 'gpt-4o': {} } }, /at least one/],
      [{ requestsPerMinute: 5, surprise: true }, /surprise|Unrecognized/i],
    ];
    await admin('POST', '/keys', { tenant: 'acme', id: 'target' });
    for (const [limits, why] of bad) {
      const r = await admin('POST', '/keys/limits/target', limits);
      assert.equal(r.status, 400, JSON.stringify(limits));
      assert.equal(r.json.error?.code, 'invalid_request');
      assert.match(`${r.json.error?.message}`, why, JSON.stringify(limits));
    }
    assert.equal((await admin('POST', '/keys/limits/nobody', { requestsPerMinute: 1 })).status, 404);
  });
});

describe('limit rules in the config are checked at start', () => {
  const base = (rules: string, ledger = true) => `
routing: { primaryCloud: azure }
upstreams: [{ id: a, provider: openai, cloud: azure, baseUrl: "http://127.0.0.1:1/v1", auth: { apiKey: x } }]
models: [{ name: m, deployments: [{ upstream: a, deployment: m, modelVersion: "1" }] }]
tenants: [{ id: t }]
${ledger ? 'ledger: { priceBooks: prices.yaml, owner: o }' : ''}
limits:
  rules:
${rules}`;
  const cases: [string, RegExp, boolean?][] = [
    ['    - { id: a, scope: { tenant: nobody }, requestsPerMinute: 1 }', /unknown tenant 'nobody'/],
    ['    - { id: a, scope: { model: nothing }, requestsPerMinute: 1 }', /unknown model 'nothing'/],
    ['    - { id: a, scope: {}, requestsPerMinute: 1 }', /name a key, a tenant or a model/],
    ['    - { id: a, scope: { tenant: t } }', /at least one of/],
    [
      '    - { id: a, scope: { tenant: t }, requestsPerMinute: 1 }\n    - { id: a, scope: { tenant: t }, requestsPerMinute: 2 }',
      /duplicate rule id 'a'/,
    ],
    [
      '    - { id: a, scope: { tenant: t }, budget: { amount: "5", period: month } }',
      /configure ledger.priceBooks/,
      false,
    ],
    ['    - { id: "bad id", scope: { tenant: t }, requestsPerMinute: 1 }', /id/],
  ];
  for (const [rules, why, ledger] of cases)
    test(`refused: ${why.source}`, () => {
      assert.throws(
        () => parseConfigText(base(rules, ledger ?? true), 'limits.yaml', {}),
        (e: Error) => {
          assert.match(`${e.message} ${JSON.stringify(e)}`, why);
          return true;
        },
      );
    });
});
