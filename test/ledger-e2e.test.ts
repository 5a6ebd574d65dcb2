// Traffic sent through the gateway with the official openai SDK shows up, exactly, in
// `entente ledger statement` and `entente revenue-share status`; a cap small enough to be
// reached stops accrual at exactly the cap; an unpriced model fails closed.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import OpenAI from 'openai';
import { systemClock } from '../src/clock/index.js';
import { parsePriceBooks, periodOf } from '../src/ledger/index.js';
import { eventually } from './helpers/eventually.js';
import { shareAgreementYaml } from './helpers/share-agreement.js';
import { DEMO_KEY, type Stack, stackYaml, startStack } from './helpers/stack.js';

const run = promisify(execFile);
const ADMIN_KEY = 'sk-test-admin';
const cli = fileURLToPath(new URL('../../bin/entente.js', import.meta.url));

const PRICES = `currency: USD
books:
  - id: list
    effectiveFrom: 2025-01-01T00:00:00Z
    prices:
      - { model: gpt-4o, inputUncached: "2.50", inputCached: "1.25", output: "10.00", reasoning: "8.00" }
`;
// 20% share capped at 0.000200 USD: reached within the test's traffic.
const AGREEMENT = shareAgreementYaml({
  id: 'deal',
  payer: 'openai',
  payee: 'microsoft',
  rate: '20/100',
  cap: '0.000200',
  from: '2025-01-01T00:00:00Z',
  to: '2031-01-01T00:00:00Z',
});

let stack: Stack;
let client: OpenAI;
let configFile: string;

/** Revenue in micro-USD from the usage the SDK received, priced by hand here. */
/** Exact revenue in pico-units (the ledger books Σ of these, floored once, per tenant). */
function revenueFromSdkUsage(u: OpenAI.CompletionUsage): bigint {
  const cached = BigInt(u.prompt_tokens_details?.cached_tokens ?? 0);
  const reasoning = BigInt(u.completion_tokens_details?.reasoning_tokens ?? 0);
  const sum =
    (BigInt(u.prompt_tokens) - cached) * 2_500_000n +
    cached * 1_250_000n +
    (BigInt(u.completion_tokens) - reasoning) * 10_000_000n +
    reasoning * 8_000_000n;
  return sum;
}

async function entente(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [cli, ...args, '--config', configFile]);
  return stdout;
}

describe('metering end to end', () => {
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'entente-ledger-e2e-'));
    writeFileSync(join(dir, 'prices.yaml'), PRICES);
    writeFileSync(join(dir, 'agreement.yaml'), AGREEMENT);
    const ledgerYaml = `dataDir: ${dir}\nagreement: { file: ${join(dir, 'agreement.yaml')} }\nledger: { priceBooks: ${join(dir, 'prices.yaml')}, owner: openai, unpriced: refuse, intervalMs: 50 }`;
    stack = await startStack({
      server: `  adminKeySha256: ${createHash('sha256').update(ADMIN_KEY).digest('hex')}`,
      dataDir: dir,
      extraYaml: ledgerYaml,
      agreementFile: join(dir, 'agreement.yaml'),
      priceBooks: parsePriceBooks(PRICES, 'prices.yaml'),
    });
    configFile = join(dir, 'entente.yaml');
    writeFileSync(configFile, stackYaml(stack.azure.url, stack.openai.url, { extraYaml: ledgerYaml }));
    client = new OpenAI({ baseURL: stack.baseURL, apiKey: DEMO_KEY, maxRetries: 0 });
  });
  after(() => stack.close());

  test('revenue, statements and the capped share match the traffic exactly', async () => {
    let revenue = 0n;
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      const words = Array.from({ length: 5 + i * 3 }, (_, k) => `w${k}`).join(' ');
      if (i % 2 === 0) {
        const { data, response } = await client.chat.completions
          .create({
            model: 'gpt-4o',
            messages: [{ role: 'user', content: words }],
            ...(i === 4 ? { prompt_cache_key: 'c', reasoning_effort: 'low' as const } : {}),
          })
          .withResponse();
        revenue += revenueFromSdkUsage(data.usage!);
        ids.push(response.headers.get('x-request-id')!);
      } else {
        const { data, response } = await client.chat.completions
          .create({
            model: 'gpt-4o',
            stream: true,
            stream_options: { include_usage: true },
            messages: [{ role: 'user', content: words }],
          })
          .withResponse();
        let usage: OpenAI.CompletionUsage | undefined;
        for await (const c of data) if (c.usage) usage = c.usage;
        revenue += revenueFromSdkUsage(usage!);
        ids.push(response.headers.get('x-request-id')!);
      }
    }
    revenue /= 1_000_000n; // booked once, from the exact sum: no remainder is lost per request
    const capMicros = 200n;
    assert.ok((revenue * 20n) / 100n > capMicros, `the traffic must pass the cap (${revenue})`);
    await stack.gateway.context.usageLog.flush();
    // The meter posts each stored batch; wait until nothing is left pending.
    await eventually(
      async () => (await stack.store.pendingUsage(1)).length === 0,
      'the meter to post every record',
    );

    const statement = JSON.parse(
      await entente('ledger', 'statement', '--period', periodOf(systemClock.now()), '--format', 'json'),
    ) as {
      accounts: { account: string; closing: string; entries: { txId: string }[] }[];
    };
    const acct = (name: string) => statement.accounts.find((a) => a.account === name);
    const fmt = (v: bigint) => `${v / 1_000_000n}.${(v % 1_000_000n).toString().padStart(6, '0')}`;
    assert.equal(
      acct('receivable:acme')?.closing,
      fmt(revenue),
      'the customer owes exactly the priced usage',
    );
    assert.equal(acct('revenue:openai')?.closing, `-${fmt(revenue)}`);
    assert.equal(
      acct('revshare-payable:microsoft:deal/share')?.closing,
      `-${fmt(capMicros)}`,
      'accrual stops at exactly the cap',
    );
    assert.deepEqual(
      acct('receivable:acme')!
        .entries.map((e) => e.txId)
        .sort(),
      ids.map((id) => `revenue:${id}`).sort(),
    );

    const csv = await entente(
      'ledger',
      'statement',
      '--period',
      periodOf(systemClock.now()),
      '--format',
      'csv',
    );
    assert.match(csv, new RegExp(`receivable:acme,closing,,,,,${fmt(revenue).replace('.', '\\.')}\\n`));

    const status = JSON.parse(await entente('revenue-share', 'status', '--json')) as {
      termId: string;
      accruedMicros: string;
      eligibleRevenueMicros: string;
      remainingMicros: string;
      capReachedAt: string;
    }[];
    const s = status.find((x) => x.termId === 'deal/share')!;
    assert.equal(BigInt(s.eligibleRevenueMicros), revenue);
    assert.equal(BigInt(s.accruedMicros), capMicros);
    assert.equal(BigInt(s.remainingMicros), 0n);
    assert.equal(s.capReachedAt, 'reached');

    const balances = await entente('ledger', 'balances');
    assert.match(balances, /\(sum of all balances: a balanced ledger sums to zero\)\s+0\.000000/);
    // The same over the admin API, for the console.
    const adminGet = (p: string) =>
      fetch(`${stack.url}${p}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    const viaApi = await adminGet(
      `/v1/entente/ledger/statement?period=${periodOf(systemClock.now())}&format=csv`,
    );
    assert.equal(viaApi.headers.get('content-type'), 'text/csv; charset=utf-8');
    assert.equal(await viaApi.text(), csv);
    const shares = (await (await adminGet('/v1/entente/revenue-share')).json()) as {
      shares: { termId: string; accruedMicros: string }[];
    };
    assert.equal(shares.shares.find((x) => x.termId === 'deal/share')?.accruedMicros, String(capMicros));
    // A refund through the admin API lowers the customer's receivable; over-refunding is refused.
    const refund = await fetch(`${stack.url}/v1/entente/ledger/refunds`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
      body: JSON.stringify({ refundId: 'rf-1', requestId: ids[0], amount: '0.000010' }),
    });
    assert.equal(refund.status, 201);
    // Refused refunds answer with catalogue codes: a reused id, too much, an unknown request.
    for (const [body, status, code] of [
      [{ refundId: 'rf-1', requestId: ids[0], amount: '0.000011' }, 409, 'refund_id_reused'],
      [{ refundId: 'rf-big', requestId: ids[0], amount: '1000' }, 409, 'refund_exceeds_revenue'],
      [{ refundId: 'rf-x', requestId: 'req_nope', amount: '1' }, 404, 'refund_unknown_request'],
      [{ refundId: 'rf-0', requestId: ids[0], amount: '0' }, 400, 'refund_invalid_amount'],
    ] as const) {
      const r = await fetch(`${stack.url}/v1/entente/ledger/refunds`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
        body: JSON.stringify(body),
      });
      assert.equal(r.status, status, code);
      assert.equal(((await r.json()) as { error: { code: string } }).error.code, code);
      assert.equal(r.headers.get('x-entente-error-code'), code);
    }
    const afterRefund = await entente('ledger', 'balances');
    assert.ok(
      afterRefund
        .split('\n')
        .some((l) => l.startsWith('receivable:acme') && l.includes(` ${fmt(revenue - 10n)} USD`)),
      afterRefund,
    );
    const over = await entente(
      'ledger',
      'refund',
      '--request',
      ids[0]!,
      '--amount',
      '1000',
      '--id',
      'rf-2',
    ).then(
      () => '',
      (e: { stderr: string }) => e.stderr,
    );
    assert.match(over, /refund_exceeds_revenue/);
    // A replay rebuilds the ledger from scratch: refused while this node's gateway is posting.
    const live = await entente('usage', 'replay').then(
      () => '',
      (e: { stderr: string }) => e.stderr,
    );
    assert.match(live, /\[spool_locked\] a gateway \(process \d+\) is serving/);
  });

  test('an unpriced model fails closed: refused, and nothing is served', async () => {
    const before = stack.openai.requests.length;
    await assert.rejects(
      client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
      (err: unknown) => {
        // The operator's configuration is at fault, not the client: a server error, not retried.
        assert.ok(err instanceof OpenAI.InternalServerError, String(err));
        assert.equal(err.code, 'model_unpriced');
        assert.equal(err.headers?.get('x-should-retry'), 'false');
        return true;
      },
    );
    assert.equal(stack.openai.requests.length, before);
  });

  test('with the gateway stopped, usage replay rebuilds an identical ledger', async () => {
    await stack.gateway.close();
    const replay = await entente('usage', 'replay');
    assert.match(replay, /identical: \d+ account balances match/);
  });
});
