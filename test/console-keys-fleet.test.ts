// The key lifecycle in the console, in Debian's Chromium, on a fleet of three nodes (one
// PostgreSQL, one Redis): an operator creates a key with a budget on node 1's Keys page, the
// secret is shown once (and never again), the key works through the openai SDK on every node,
// the page shows its budget and spend, the operator revokes it, and every node refuses it within
// a second. The Spend page shows the ledger's figures for the chosen time range.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { type Browser, chromium, type Page } from 'playwright-core';
import { type Simulator, startSimulator } from '../sim/index.js';
import { pgUrl, raw } from './helpers/backends.js';
import { eventually } from './helpers/eventually.js';
import { type FleetNode, fleetNode, fleetSchema } from './helpers/fleet-schema.js';
import { metered } from './helpers/prices.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const redisUrl = process.env.ENTENTE_TEST_REDIS_URL;
const skip = !existsSync(CHROMIUM)
  ? `no Chromium at ${CHROMIUM}`
  : !pgUrl
    ? 'PostgreSQL is not reachable'
    : !redisUrl
      ? 'Redis is not reachable'
      : false;
if (existsSync(CHROMIUM) === false && process.env.ENTENTE_REQUIRE_SERVICES === '1')
  throw new Error(`Chromium is required for the console tests (CI): not found at ${CHROMIUM}`);
const ADMIN_KEY = 'sk-console-fleet-admin';

describe('the key lifecycle in the console, on three nodes', { skip }, () => {
  let fleet: { schema: string; drop(): Promise<void> };
  let azure: Simulator;
  let openai: Simulator;
  let browser: Browser;
  let page: Page;
  const nodes: FleetNode[] = [];
  let secret = '';

  const call = (n: FleetNode, key: string) =>
    new OpenAI({ baseURL: `${n.url}/v1`, apiKey: key, maxRetries: 0 }).chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 5,
    });

  before(async () => {
    fleet = await fleetSchema(pgUrl!, 'console_keys');
    azure = await startSimulator({ kind: 'azure-openai', apiKey: 'azure-secret' });
    openai = await startSimulator({ kind: 'openai', apiKey: 'openai-secret' });
    const dir = mkdtempSync(join(tmpdir(), 'entente-console-keys-'));
    const metering = metered(dir);
    const namespace = `ck-${randomBytes(4).toString('hex')}`;
    for (const id of ['c1', 'c2', 'c3'])
      nodes.push(
        await fleetNode({
          id,
          pgUrl: pgUrl!,
          schema: fleet.schema,
          redisUrl: redisUrl!,
          azure,
          openai,
          // Each node re-reads keys only every hour: within the test, a new or revoked key reaches
          // them by the fleet's notice alone.
          keyRefreshMs: 3_600_000,
          stack: {
            server: `  adminKeySha256: ${createHash('sha256').update(ADMIN_KEY).digest('hex')}`,
            extraYaml: `cluster: { namespace: ${namespace}, heartbeatMs: 200 }\n${metering.ledgerYaml}`,
            priceBooks: metering.priceBooks,
          },
        }),
      );
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
    page = await (await browser.newContext({ viewport: { width: 1600, height: 1000 } })).newPage();
    await page.goto(`${nodes[0]!.url}/console`);
    await page.fill('#admin-key', ADMIN_KEY);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('main[data-loaded="traffic"]');
  });

  after(async () => {
    await browser?.close();
    for (const n of nodes) {
      await n.gateway.close();
      await n.store.close();
    }
    await Promise.all([azure?.close(), openai?.close()]);
    await fleet?.drop();
  });

  test('create: the secret is shown once, and works on every node', async () => {
    await page.goto(`${nodes[0]!.url}/console#/keys`);
    await page.waitForSelector('main[data-loaded="keys"]');
    await page.fill('[data-testid="new-tenant"]', 'acme');
    await page.fill('[data-testid="new-id"]', 'browser-key');
    await page.fill('[data-testid="new-models"]', 'gpt-4o-mini');
    await page.fill('[data-testid="new-rpm"]', '100');
    await page.fill('[data-testid="new-budget"]', '1.00');
    await page.click('form[data-testid="create-key"] button[type=submit]');
    const shown = page.locator('[data-testid="new-secret"]');
    await shown.waitFor();
    secret = (await shown.textContent())?.trim() ?? '';
    assert.match(secret, /^sk-ent-[A-Za-z0-9_-]{43}$/);
    const row = page.locator('table[data-testid="keys"] tbody tr', { hasText: 'browser-key' });
    assert.match((await row.textContent()) ?? '', /100 req\/min, 1\.000000 USD\/month/);
    // Every node knows the new key, which only the fleet's notice can have told it (its poll is
    // hourly). Within 15 s, however loaded the machine: the notice takes milliseconds on an idle one.
    for (const n of nodes) {
      const r = await eventually(
        () =>
          call(n, secret)
            .withResponse()
            .catch(() => null),
        'the new key to work on every node',
        15_000,
      );
      assert.equal(r.response.headers.get('x-ratelimit-limit-requests'), '100');
    }
    // Shown once: the page opened again has no trace of it.
    await page.goto(`${nodes[0]!.url}/console#/traffic`);
    await page.waitForSelector('main[data-loaded="traffic"]');
    await page.goto(`${nodes[0]!.url}/console#/keys`);
    await page.waitForSelector('main[data-loaded="keys"]');
    assert.equal(await page.locator('[data-testid="new-secret"]').count(), 0);
    assert.ok(!(await page.content()).includes(secret), 'the secret is nowhere on the page');
    // The budget's remainder and the key's spend are the ledger's.
    await Promise.all(nodes.map((n) => n.gateway.context.usageLog.flush()));
    await page.goto(`${nodes[0]!.url}/console#/traffic`);
    await page.goto(`${nodes[0]!.url}/console#/keys`);
    await page.waitForSelector('main[data-loaded="keys"]');
    const text = (await row.textContent()) ?? '';
    assert.match(text, /of 1\.000000 \(\d{4}-\d{2}\)/);
    assert.equal((await row.locator('td').nth(6).textContent())?.trim(), '3', 'three requests, one per node');
    assert.equal((await row.locator('td').nth(7).textContent())?.trim(), '0.000012');
  });

  test('revoke: every node refuses the key by the fleet notice, not its hourly poll', async (t) => {
    assert.ok(secret, 'the key was created');
    await page.click('[data-testid="revoke-browser-key"]');
    await page.locator('table[data-testid="keys"] tbody tr', { hasText: 'revoked' }).waitFor();
    const t0 = performance.now();
    for (const n of nodes)
      await eventually(
        () =>
          call(n, secret).then(
            () => false,
            (e: unknown) => e instanceof OpenAI.AuthenticationError,
          ),
        'the key to be refused',
        // Only the fleet's notice gets there (in milliseconds on an idle machine; the diagnostic
        // below says how long it took).
        15_000,
      );
    const ms = performance.now() - t0;
    t.diagnostic(
      `revoked key refused on all three nodes ${ms.toFixed(0)} ms after the page showed it revoked`,
    );
  });

  test('spend: the time range picker shows the ledger’s figures for the range', async () => {
    // 150 more keys with spend (rows as the writers roll them up): the page lists the 100 largest
    // keys and says how many there are.
    const db = await raw(nodes[0]!.store);
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    await db.exec(
      `INSERT INTO usage_spend (minute_ms, tenant_id, key_id, model, cloud, currency, requests, micros)
       SELECT ${minute}, 'acme', 'seeded-' || i, 'gpt-4o-mini', 'azure', 'USD', 1, i FROM generate_series(1, 150) i`,
    );
    await db.close();
    for (const w of ['1h', '30d']) {
      await page.goto(`${nodes[1]!.url}/console#/spend?window=${w}`);
      if (w === '1h') {
        await page.fill('#admin-key', ADMIN_KEY).catch(() => undefined);
        await page.click('#login button[type=submit]').catch(() => undefined);
      }
      await page.waitForSelector('main[data-loaded="spend"]');
      const api = (await (
        await fetch(`${nodes[2]!.url}/v1/entente/spend?window=${w}`, {
          headers: { authorization: `Bearer ${ADMIN_KEY}` },
        })
      ).json()) as { total: string; requests: number; currency: string; counts: { keys: number } };
      assert.equal(
        (await page.locator('[data-testid="spend-total"]').textContent())?.trim(),
        `${api.total} ${api.currency}`,
      );
      assert.ok(api.counts.keys > 150);
      assert.equal(
        await page.locator('[data-testid="spend-key-more"]').textContent(),
        `The 100 largest of ${api.counts.keys.toLocaleString('en-US')}.`,
      );
      assert.equal(await page.locator('[data-testid="spend-key"] tbody tr').count(), 100);
      assert.equal(await page.locator('[data-testid="spend-tenant-more"]').count(), 0);
      assert.ok(api.requests >= 3);
      assert.equal(await page.locator('[data-testid="range"] a.active').textContent(), w);
    }
  });
});
