// /metrics after known traffic: the counters are exact, the exposition format parses, and the
// ledger gauges agree with the ledger.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { parsePriceBooks } from '../src/ledger/index.js';
import { eventually } from './helpers/eventually.js';
import { shareAgreementYaml } from './helpers/share-agreement.js';
import { DEMO_KEY, type Stack, startStack } from './helpers/stack.js';

const ADMIN_KEY = 'sk-test-metrics-admin';
const PRICES =
  'currency: USD\nbooks:\n  - { id: b, effectiveFrom: 2020-01-01T00:00:00Z, prices: [{ model: gpt-4o, inputUncached: "2.50", inputCached: "1.25", output: "10.00" }] }\n';
let stack: Stack;

/** Parses the text exposition format into name{labels} → value. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+]+|\+Inf)$/.exec(line);
    assert.ok(m, `a valid sample line: ${line}`);
    out.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return out;
}

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'entente-metrics-'));
  writeFileSync(
    join(dir, 'a.yaml'),
    shareAgreementYaml({
      payer: 'op',
      payee: 'partner',
      rate: '1/10',
      cap: '1.000000',
      from: '2020-01-01T00:00:00Z',
    }),
  );
  stack = await startStack({
    server: `  adminKeySha256: ${createHash('sha256').update(ADMIN_KEY).digest('hex')}`,
    dataDir: dir,
    extraYaml: `agreement: { file: ${join(dir, 'a.yaml')} }\nledger: { priceBooks: p.yaml, owner: op, unpriced: flag, intervalMs: 50 }`,
    agreementFile: join(dir, 'a.yaml'),
    priceBooks: parsePriceBooks(PRICES, 'p.yaml'),
  });
});
after(() => stack.close());

test('the counters match the traffic exactly', async () => {
  const client = new OpenAI({ baseURL: stack.baseURL, apiKey: DEMO_KEY, maxRetries: 0 });
  let prompt = 0;
  let completion = 0;
  for (let i = 0; i < 3; i++) {
    const r = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: `hello ${i}` }],
    });
    prompt += r.usage!.prompt_tokens;
    completion += r.usage!.completion_tokens;
  }
  stack.azure.setFault({ kind: 'server_error', count: 1 });
  const failedOver = await client.chat.completions.create({
    model: 'gpt-4o',
    messages: [{ role: 'user', content: 'x' }],
  });
  await assert.rejects(
    client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] }),
  );
  await stack.gateway.context.usageLog.flush();
  // The meter posts what the usage log stored.
  await eventually(
    async () => (await stack.store.pendingUsage(1)).length === 0,
    'the meter to post every record',
  );

  const denied = await fetch(`${stack.url}/metrics`);
  assert.equal(denied.status, 401, 'behind the admin key');
  const res = await fetch(`${stack.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const m = parse(await res.text());
  assert.equal(
    m.get('entente_requests_total{model="gpt-4o",cloud="azure",status="200",code="",stream="false"}'),
    3,
  );
  assert.equal(
    m.get('entente_requests_total{model="gpt-4o",cloud="openai",status="200",code="",stream="false"}'),
    1,
  );
  assert.equal(
    m.get(
      'entente_requests_total{model="(unknown)",cloud="",status="404",code="model_not_found",stream="false"}',
    ),
    1,
  );
  assert.equal(m.get('entente_failovers_total{cloud="azure",reason="server"}'), 1);
  assert.equal(m.get('entente_tokens_total{model="gpt-4o",cloud="azure",type="input_uncached"}'), prompt);
  assert.equal(m.get('entente_tokens_total{model="gpt-4o",cloud="azure",type="output"}'), completion);
  assert.equal(
    m.get('entente_tokens_total{model="gpt-4o",cloud="openai",type="output"}'),
    failedOver.usage!.completion_tokens,
  );
  assert.equal(m.get('entente_request_duration_seconds_count{model="gpt-4o",cloud="azure"}'), 3);
  assert.equal(m.get('entente_gateway_overhead_seconds_count{stream="false"}'), 5);
  assert.equal(m.get('entente_usage_log_written_records'), 5);
  assert.equal(m.get('entente_ledger_posted_records'), 5);
  // The ledger gauges agree with the accrual state.
  const state = (await stack.store.accrualStates()).get('acme/share@v1')!;
  assert.ok(state.accruedMicros > 0n);
  assert.equal(
    m.get('entente_revenue_share_accrued_micros{term="acme/share",currency="USD"}'),
    Number(state.accruedMicros),
  );
  assert.equal(
    m.get('entente_revenue_share_cap_remaining_micros{term="acme/share",currency="USD"}'),
    1_000_000 - Number(state.accruedMicros),
  );
  assert.equal(m.get('entente_route_table_info{agreement_version="v1",rollout_seq="0"}'), 1);
});
