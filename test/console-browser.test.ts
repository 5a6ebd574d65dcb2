// The web console in a real browser: Debian's Chromium driven by playwright-core. The test logs
// in, opens every page, checks that the figures shown are the admin API's, clicks through the
// version diff, downloads a statement and compares it with the API's CSV, searches the request
// list, and saves a screenshot of each page (test-results/console/).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { type Browser, chromium, type Page } from 'playwright-core';
import { loadAgreement } from '../src/agreements/index.js';
import { systemClock } from '../src/clock/index.js';
import { parsePriceBooks } from '../src/ledger/index.js';
import { appendRolloutEvent } from '../src/rollout/index.js';
import { eventually } from './helpers/eventually.js';
import { DEMO_KEY, type Stack, sha, startStack } from './helpers/stack.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ADMIN_KEY = 'sk-test-admin-console-key';
const root = fileURLToPath(new URL('../..', import.meta.url));
const shots = join(root, 'test-results/console');
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.ENTENTE_REQUIRE_SERVICES === '1')
  throw new Error(`Chromium is required for the console tests (CI): not found at ${CHROMIUM}`);
if (!haveChromium) process.stderr.write(`# console browser tests skipped: no Chromium at ${CHROMIUM}\n`);

describe('the web console in headless Chromium', { skip: haveChromium ? false : 'no Chromium' }, () => {
  let stack: Stack;
  let browser: Browser;
  let page: Page;
  const admin = async (path: string) => {
    const r = await fetch(`${stack.url}${path}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    assert.equal(r.status, 200, path);
    return (r.headers.get('content-type') ?? '').includes('json')
      ? ((await r.json()) as never)
      : ((await r.text()) as never);
  };
  const text = async (testId: string) =>
    (await page.locator(`[data-testid="${testId}"]`).textContent())?.trim() ?? '';
  const open = async (name: string) => {
    await page.goto(`${stack.url}/console#/${name}`);
    await page.waitForSelector(`main[data-loaded="${name}"]`, { timeout: 15_000 });
  };
  const shot = (name: string) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

  before(async () => {
    mkdirSync(shots, { recursive: true });
    const dir = mkdtempSync(join(tmpdir(), 'entente-console-'));
    // The shipped agreement, with the research licence ending in about five months: it must stand out.
    const soon = new Date(systemClock.now() + 150 * 86_400_000).toISOString().slice(0, 10);
    const agreement = readFileSync(join(root, 'examples/agreement.yaml'), 'utf8').replace(
      /(id: ms-research-ip[\s\S]*?term: \{ from: 2025-10-28T00:00:00Z, to: )2030-01-01T00:00:00Z([\s\S]*?2026-04-amendment[\s\S]*?id: ms-research-ip[\s\S]*?term: \{ from: 2025-10-28T00:00:00Z, to: )2030-01-01T00:00:00Z/,
      `$12030-01-01T00:00:00Z$2${soon}T00:00:00Z`,
    );
    assert.ok(agreement.includes(`${soon}T00:00:00Z`));
    writeFileSync(join(dir, 'agreement.yaml'), agreement);
    stack = await startStack({
      server: `  adminKeySha256: ${sha(ADMIN_KEY)}`,
      agreementFile: join(dir, 'agreement.yaml'),
      priceBooks: parsePriceBooks(readFileSync(join(root, 'examples/prices.yaml'), 'utf8'), 'prices.yaml'),
      // The pool the shipped agreement's datacenter programme names, here on the Azure gpt-4o deployment.
      extraYaml: `ledger: { priceBooks: prices.yaml, owner: openai, intervalMs: 50 }
capacity:
  pools:
    - { id: azure-eastus-o4-mini-ptu, deployments: [azure-eastus/gpt-4o-prod], unit: ptu, size: 100, tokensPerMinutePerUnit: 3000, term: { from: 2026-01-01T00:00:00Z }, cost: { fixedPerMonth: "5200.00" }, accelerator: nvidia-gb200, datacenter: azure-eastus }`,
      beforeStart: async (store) => {
        const parsed = loadAgreement(join(dir, 'agreement.yaml'));
        for (const cloud of ['azure', 'openai']) {
          const r = await appendRolloutEvent(store, parsed, {
            kind: 'stage',
            model: 'gpt-4o',
            modelVersion: '2024-11-20',
            cloud,
            region: cloud === 'azure' ? 'eastus' : 'global',
            stage: 'ga',
            evidence: 'test seed',
            atMs: systemClock.now(),
          });
          assert.ok(r.ok, JSON.stringify(r));
        }
      },
    });
    const client = new OpenAI({ baseURL: stack.baseURL, apiKey: DEMO_KEY, maxRetries: 0 });
    for (let i = 0; i < 6; i++)
      await client.chat.completions.create({
        model: 'gpt-4o',
        messages: [{ role: 'user', content: `hello number ${i}` }],
      });
    await client.chat.completions
      .create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'a streamed one' }] })
      .then(async (s) => {
        for await (const _ of s) {
        }
      });
    // One failover (Azure answers 500 once), one refused model.
    stack.azure.setFault({ kind: 'server_error', count: 1 });
    await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'fail over' }],
    });
    await client.chat.completions
      .create({ model: 'nope', messages: [{ role: 'user', content: 'x' }] })
      .catch(() => undefined);
    await stack.gateway.context.usageLog.flush();
    // Wait for the ledger to post the priced usage.
    await eventually(async () => {
      const r = (await admin('/v1/entente/revenue-share')) as { shares: { accruedMicros: string }[] };
      return r.shares.some((s) => s.accruedMicros !== '0');
    }, 'the ledger to accrue the revenue share');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
        '--disable-sync',
      ],
    });
    page = await (
      await browser.newContext({ viewport: { width: 1400, height: 1000 }, acceptDownloads: true })
    ).newPage();
  });
  after(async () => {
    await browser?.close();
    await stack?.close();
  });

  test('login: a wrong key is refused, the admin key gets in', async () => {
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${stack.url}/console`);
    await page.fill('#admin-key', 'sk-not-the-admin-key');
    await page.click('#login button[type=submit]');
    await page.waitForSelector('[data-testid="login-error"]:not(:empty)');
    assert.match(await text('login-error'), /not the admin key/);
    await shot('login-refused');
    await page.fill('#admin-key', ADMIN_KEY);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('main[data-loaded="traffic"]');
    assert.deepEqual(errors, []);
  });

  test('traffic: the figures are the API’s', async () => {
    await open('traffic');
    const t = (await admin('/v1/entente/traffic?window_s=3600&bucket_s=60')) as {
      totals: { requests: number; errors: number; failovers: number; primaryShare: number };
    };
    assert.equal(t.totals.requests, 9);
    assert.equal(t.totals.failovers, 1);
    assert.equal(await text('kpi-requests'), String(t.totals.requests));
    assert.equal(await text('kpi-errors'), String(t.totals.errors));
    assert.equal(await text('kpi-failovers'), String(t.totals.failovers));
    assert.equal(await text('kpi-primary-share'), `${(t.totals.primaryShare * 100).toFixed(1)}%`);
    assert.equal(await page.locator('[data-testid="traffic-chart"] canvas').count(), 1, 'the chart is drawn');
    // Sorting by requests, descending: the busiest model first.
    await page.click('table[data-testid="by-model"] th[data-key="requests"]');
    await page.click('table[data-testid="by-model"] th[data-key="requests"]');
    assert.equal(
      await page.locator('table[data-testid="by-model"] tbody tr:first-child td:first-child').textContent(),
      'gpt-4o',
    );
    await shot('traffic');
  });

  test('agreement: version in force, timeline, a diff clicked through, licences ending soon stand out', async () => {
    await open('agreement');
    const a = (await admin('/v1/entente/agreement')) as {
      inForce: { id: string };
      versions: { id: string }[];
    };
    assert.equal(await text('version-in-force'), a.inForce.id);
    assert.equal(await page.locator('[data-testid="timeline"] li').count(), a.versions.length);
    await page.selectOption('[data-testid="diff-from"]', a.versions[0]!.id);
    await page.selectOption('[data-testid="diff-to"]', a.versions[1]!.id);
    await page.click('[data-testid="show-diff"]');
    const d = (await admin(
      `/v1/entente/agreement/diff?from=${a.versions[0]!.id}&to=${a.versions[1]!.id}`,
    )) as { changes: { path: string }[] };
    await page.waitForSelector('table[data-testid="diff-table"]');
    assert.equal(await page.locator('table[data-testid="diff-table"] tbody tr').count(), d.changes.length);
    assert.ok(d.changes.some((c) => c.path === 'cloud.exclusive'));
    await page.fill('[data-testid="diff-table-filter"]', 'exclusivity');
    // The filter searches every column: the term, what it was and what it is.
    assert.equal(
      await page.locator('table[data-testid="diff-table"] tbody tr').count(),
      (d.changes as { path: string; kind: string; before?: string; after?: string }[]).filter((c) =>
        [c.kind, c.path, c.before ?? '', c.after ?? ''].some((x) => x.toLowerCase().includes('exclusivity')),
      ).length,
    );
    // Scope, carve-outs and revenue bases as the version in force states them.
    assert.match(await text('scope'), /governs models owned by openai/);
    assert.equal(await page.locator('table[data-testid="carve-outs"] tbody tr').count(), 2);
    assert.match(
      (await page.locator('table[data-testid="revenue-shares"] tbody tr').first().textContent()) ?? '',
      /openai's revenue from models owned by openai on any cloud/,
    );
    const soonRows = page.locator('table[data-testid="licences"] tbody tr.soon');
    assert.equal(await soonRows.count(), 1);
    assert.match((await soonRows.first().textContent()) ?? '', /ms-research-ip.*ends soon/);
    await shot('agreement');
  });

  test('health: each deployment’s breaker and its transitions, as the API says', async () => {
    // A 429 with retry-after opens Azure's breaker at once (the failure path the gateway takes).
    const health = stack.gateway.context.health;
    health.failure('azure-eastus/gpt-4o-prod', Date.now(), 60_000, 'rate_limited');
    await open('health');
    const h = (await admin('/v1/entente/health')) as {
      deployments: { deployment: string; state: string }[];
      transitions: { to: string; reason: string }[];
    };
    assert.equal(h.deployments.find((d) => d.deployment === 'azure-eastus/gpt-4o-prod')?.state, 'open');
    assert.equal(await page.locator('table[data-testid="breakers"] tbody tr').count(), h.deployments.length);
    assert.equal(await page.locator('table[data-testid="breakers"] .badge.bad').count(), 1);
    // Which deployment is cooling down, and for how long; its failures of the last hour.
    const open1 = page.locator('table[data-testid="breakers"] tbody tr', {
      hasText: 'azure-eastus/gpt-4o-prod',
    });
    const cells = (await open1.locator('td').allTextContents()).map((x) => x.trim());
    const left = Number(/^(\d+) s$/.exec(cells[4] ?? '')?.[1]);
    assert.ok(left > 50 && left <= 60, `cooldown left: ${cells[4]}`);
    const api = h.deployments.find((d) => d.deployment === 'azure-eastus/gpt-4o-prod') as unknown as {
      lastHour: { failed: number; byOutcome: Record<string, number> };
    };
    assert.equal(cells[7], String(api.lastHour.failed));
    assert.ok(api.lastHour.failed >= 1, 'the failover request of the setup failed on Azure first');
    assert.equal(
      await page.locator('table[data-testid="transitions"] tbody tr').count(),
      h.transitions.length,
    );
    assert.match(
      (await page.locator('table[data-testid="transitions"] tbody tr').first().textContent()) ?? '',
      /azure-eastus\/gpt-4o-prod.*closed.*open.*rate_limited/,
    );
    health.success('azure-eastus/gpt-4o-prod');
    await shot('health');
  });

  test('traffic: the range picker reads the roll-ups for 1 h, 24 h, 7 d and 30 d', async () => {
    await open('traffic');
    for (const [w, words] of [
      ['24h', '24 hours'],
      ['7d', '7 days'],
      ['30d', '30 days'],
      ['1h', 'hour'],
    ] as const) {
      await page.click(`[data-testid="traffic-range"] a[data-window="${w}"]`);
      await page.locator('h1', { hasText: `Traffic, last ${words}` }).waitFor();
      await page.waitForSelector('main[data-loaded="traffic"]');
      const t = (await admin(`/v1/entente/traffic?window=${w}`)) as { totals: { requests: number } };
      assert.equal(await text('kpi-requests'), String(t.totals.requests), w);
      assert.equal(await page.locator('[data-testid="traffic-range"] a.active').textContent(), w);
    }
  });

  test('keys: every key with its status, as the API lists it, and never a secret', async () => {
    await open('keys');
    const k = (await admin('/v1/entente/keys?limit=100')) as { keys: { id: string; status: string }[] };
    assert.ok(k.keys.length >= 2);
    assert.equal(await page.locator('table[data-testid="keys"] tbody tr').count(), k.keys.length);
    assert.doesNotMatch((await page.content()) ?? '', /sk-entente-demo|sk-test/);
    await shot('keys');
  });

  test('keys: a page of 100 at a time, the next page after the last id, and back to the first', async () => {
    const rows = () => page.locator('table[data-testid="keys"] tbody tr');
    const ids = async () => (await rows().locator('td:first-child').allTextContents()).map((t) => t.trim());
    for (let i = 0; i < 150; i++)
      await stack.store.putApiKey({
        id: `page-${String(i).padStart(3, '0')}`,
        tenantId: 'globex',
        sha256: sha(`console-page-key-${i}`),
        models: ['*'],
        createdAtMs: systemClock.now(),
        revokedAtMs: null,
      });
    let all: string[] = [];
    let after: string | null = null;
    do {
      const p = (await admin(`/v1/entente/keys?limit=100${after ? `&after=${after}` : ''}`)) as {
        keys: { id: string }[];
        next: string | null;
      };
      all = [...all, ...p.keys.map((x) => x.id)];
      after = p.next;
    } while (after);
    assert.ok(all.length > 150 && all.length <= 200);
    await page.goto('about:blank'); // the keys page may be open: load it again
    await open('keys');
    assert.deepEqual(await ids(), all.slice(0, 100));
    assert.equal(
      await page.locator('[data-testid="keys-first"]').count(),
      0,
      'no way back from the first page',
    );
    await page.click('[data-testid="keys-next"]');
    await eventually(async () => (await rows().count()) === all.length - 100, 'the next page');
    assert.deepEqual(await ids(), all.slice(100));
    assert.equal(await page.locator('[data-testid="keys-next"]').count(), 0, 'no next page after the last');
    await page.click('[data-testid="keys-first"]');
    await eventually(async () => (await rows().count()) === 100, 'the first page again');
    assert.deepEqual(await ids(), all.slice(0, 100));
  });

  test('nodes: every node of the store with its heartbeat, as the API says', async () => {
    await open('nodes');
    const n = (await admin('/v1/entente/nodes')) as { nodes: { nodeId: string; live: boolean }[] };
    assert.ok(n.nodes.length >= 1 && n.nodes.every((x) => x.live));
    assert.equal(await page.locator('table[data-testid="nodes"] tbody tr').count(), n.nodes.length);
    assert.equal(await page.locator('table[data-testid="nodes"] .badge.good').count(), n.nodes.length);
    await shot('nodes');
  });

  test('audit: every recorded change, newest first, as the API lists it', async () => {
    await open('audit');
    const a = (await admin('/v1/entente/audit?limit=500')) as { entries: { action: string }[] };
    assert.ok(a.entries.length > 0, 'the agreement and price files were recorded at start');
    assert.equal(await page.locator('table[data-testid="audit"] tbody tr').count(), a.entries.length);
    assert.match(
      (await page.locator('table[data-testid="audit"] tbody tr').first().textContent()) ?? '',
      new RegExp(a.entries[0]!.action.replace('.', '\\.')),
    );
    await shot('audit');
  });

  test('rollout: every model version × cloud with its verdict', async () => {
    await open('rollout');
    const r = (await admin('/v1/entente/rollout/status')) as { rows: { mayServe: boolean | null }[] };
    assert.equal(await page.locator('table[data-testid="rollout"] tbody tr').count(), r.rows.length);
    assert.equal(
      await page.locator('table[data-testid="rollout"] .badge.bad').count(),
      r.rows.filter((x) => x.mayServe === false).length,
    );
    await shot('rollout');
  });

  test('revenue share: accrued and cap as the API says; the statement CSV download is the API’s', async () => {
    await open('revenue');
    const { shares } = (await admin('/v1/entente/revenue-share')) as {
      shares: { termId: string; accruedMicros: string; capMicros: string | null }[];
    };
    const live = shares.find((s) => s.capMicros !== null)!;
    assert.notEqual(live.accruedMicros, '0');
    const fmt = (m: string) => {
      const s = m.padStart(7, '0');
      return `${s.slice(0, -6).replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${s.slice(-6)}`;
    };
    assert.equal(await text(`accrued-${live.termId}`), fmt(live.accruedMicros));
    assert.equal(await text(`cap-${live.termId}`), fmt(live.capMicros!));
    assert.equal(await page.locator(`[data-testid="accrual-chart-${live.termId}"] canvas`).count(), 1);
    // The share the amendment removed is history, apart from the one in force, with no chart.
    const ended = (shares as unknown as { termId: string; inForce: boolean }[]).filter((s) => !s.inForce);
    assert.ok(ended.some((s) => s.termId.endsWith('/microsoft-to-openai')));
    assert.equal(await page.locator('table[data-testid="share-history"] tbody tr').count(), ended.length);
    for (const e of ended)
      assert.equal(await page.locator(`[data-testid="accrual-chart-${e.termId}"]`).count(), 0);
    assert.doesNotMatch((await page.locator('main').textContent()) ?? '', /after 9999/);
    const period = new Date().toISOString().slice(0, 7);
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.click('[data-testid="download-csv"]'),
    ]);
    assert.equal(download.suggestedFilename(), `statement-${period}.csv`);
    const file = join(shots, download.suggestedFilename());
    await download.saveAs(file);
    assert.equal(
      readFileSync(file, 'utf8'),
      await admin(`/v1/entente/ledger/statement?period=${period}&format=csv`),
    );
    await shot('revenue');
  });

  test('requests: searchable, with the route decision and why', async () => {
    await open('requests');
    const { requests } = (await admin('/v1/entente/requests?limit=50')) as {
      requests: {
        requestId: string;
        attempts: number;
        why: string;
        attemptLog: { deployment: string; outcome: string }[];
      }[];
    };
    assert.equal(await page.locator('table[data-testid="requests"] tbody tr').count(), requests.length);
    // One search box: the table has no filter of its own.
    assert.equal(await page.locator('main input.filter').count(), 1);
    const failedOver = requests.find((r) => r.attempts > 1)!;
    await page.fill('[data-testid="request-search"]', failedOver.requestId);
    // (waitForFunction would evaluate a string, which the console's CSP rightly forbids.)
    const rows = page.locator('table[data-testid="requests"] tbody tr');
    await eventually(async () => (await rows.count()) === 1, 'the search to narrow the table to one row');
    await page.click('table[data-testid="requests"] tbody tr');
    await page.waitForSelector('table[data-testid="request-attempts"]');
    assert.match((await text('request-detail')) ?? '', /failed over: served by openai on attempt 2/);
    // Its attempts, as the usage record kept them, and the route as it was when it started.
    const attempts = page.locator('table[data-testid="request-attempts"] tbody tr');
    assert.equal(await attempts.count(), failedOver.attemptLog.length);
    assert.deepEqual(
      failedOver.attemptLog.map((a) => [a.deployment, a.outcome]),
      [
        ['azure-eastus/gpt-4o-prod', failedOver.attemptLog[0]!.outcome],
        ['openai/gpt-4o-2024-11-20', 'served'],
      ],
    );
    assert.notEqual(failedOver.attemptLog[0]!.outcome, 'served');
    assert.match((await attempts.first().textContent()) ?? '', /azure-eastus\/gpt-4o-prod/);
    assert.ok((await page.locator('table[data-testid="request-route"] tbody tr').count()) >= 1);
    assert.match((await text('request-detail')) ?? '', /How gpt-4o routed at \d{4}-\d{2}-\d{2} /);
    await shot('requests');
  });

  test('capacity: each pool with its utilization chart, and the programmes with their pools', async () => {
    await open('capacity');
    const c = (await admin('/v1/entente/capacity')) as {
      pools: { id: string; last24h: { hourlyPeakTpm: { t: number; tpm: number }[] } }[];
      programmes: { title: string; pools: { id: string; accelerator: string | null }[] }[];
    };
    const pool = c.pools.find((p) => p.id === 'azure-eastus-o4-mini-ptu')!;
    assert.ok(pool.last24h.hourlyPeakTpm.length >= 1, 'the setup traffic went through the pool');
    assert.equal(
      await page.locator('[data-testid="capacity-chart-azure-eastus-o4-mini-ptu"] canvas').count(),
      1,
    );
    const programme = c.programmes.find((g) => g.pools.some((p) => p.id === pool.id))!;
    assert.equal(programme.pools[0]!.accelerator, 'nvidia-gb200');
    assert.match(
      (await page
        .locator('table[data-testid="programmes"] tbody tr', { hasText: programme.title })
        .textContent()) ?? '',
      /azure-eastus-o4-mini-ptu \(100 ptu, nvidia-gb200 @ azure-eastus\)/,
    );
    await shot('capacity');
  });

  test('layout at 1280 and 1920 px: no table wider than its panel, no chart labels overlapping', async () => {
    const pages = [
      'traffic',
      'agreement',
      'rollout',
      'revenue',
      'requests',
      'health',
      'keys',
      'spend',
      'capacity',
      'nodes',
      'audit',
    ];
    for (const width of [1280, 1920]) {
      await page.setViewportSize({ width, height: 1000 });
      for (const name of pages) {
        await open(name);
        // A panel whose content is wider than itself clips a column (it would need a scrollbar).
        const clipped = await page.$$eval('main .panel', (panels) =>
          panels
            .filter((p) => p.scrollWidth > p.clientWidth + 1)
            .map(
              (p) =>
                `${p.querySelector('table')?.getAttribute('data-testid') ?? 'panel'}: ${p.scrollWidth} > ${p.clientWidth}`,
            ),
        );
        assert.deepEqual(clipped, [], `${name} at ${width} px`);
        // Chart tick labels, where uPlot draws them: each axis's labels apart by more than their size.
        const overlaps = await page.evaluate(() => {
          const out: string[] = [];
          let checked = 0;
          type Axis = {
            _splits?: number[];
            _values?: string[];
            scale: string;
            side: number;
            font?: string[];
          };
          type Chart = {
            axes: Axis[];
            valToPos(v: number, scale: string): number;
            root: { querySelector(s: string): { textContent: string | null } | null };
          };
          const g = globalThis as unknown as {
            document: {
              createElement(t: 'canvas'): {
                getContext(k: '2d'): { font: string; measureText(s: string): { width: number } };
              };
            };
            __ententeCharts: Chart[];
          };
          const ctx = g.document.createElement('canvas').getContext('2d');
          for (const u of g.__ententeCharts) {
            for (const a of u.axes) {
              const splits = a._splits ?? [];
              const values = a._values ?? [];
              const horizontal = a.side === 0 || a.side === 2;
              ctx.font = a.font?.[0] ?? '12px system-ui';
              const boxes = splits
                .map((v, i) => ({ pos: u.valToPos(v, a.scale), label: String(values[i] ?? '') }))
                .filter((b) => b.label !== '' && Number.isFinite(b.pos))
                // A label of several lines (uPlot's time axis adds the date under the first tick of
                // a day) is as wide as its widest line and as tall as its lines.
                .map((b) => {
                  const lines = b.label.split('\n');
                  const size = horizontal
                    ? Math.max(...lines.map((l) => ctx.measureText(l).width))
                    : 12 * lines.length;
                  return { ...b, size };
                })
                .sort((x, y) => x.pos - y.pos);
              if (boxes.length >= 2) checked++;
              for (let i = 1; i < boxes.length; i++) {
                const p = boxes[i - 1]!;
                const q = boxes[i]!;
                if (q.pos - p.pos < (p.size + q.size) / 2)
                  out.push(`${u.root.querySelector('.u-title')?.textContent}: '${p.label}' and '${q.label}'`);
              }
            }
          }
          return { out, checked };
        });
        assert.deepEqual(overlaps.out, [], `${name} at ${width} px`);
        // The traffic page has two charts, each with labelled axes: the check saw them.
        if (name === 'traffic') assert.ok(overlaps.checked >= 2, `axes checked: ${overlaps.checked}`);
      }
      await shot(`layout-${width}`);
    }
    await page.setViewportSize({ width: 1400, height: 1000 });
  });

  test('a colour per cloud, the same on every page and every load', async () => {
    const colours = async () =>
      page.$$eval('main .dot[data-cloud]', (dots) =>
        dots.map(
          (d) =>
            `${d.getAttribute('data-cloud')}=${(globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(d).backgroundColor}`,
        ),
      );
    await open('traffic');
    const first = new Set(await colours());
    await open('health');
    const second = new Set(await colours());
    await page.reload();
    await page.waitForSelector('main[data-loaded="health"]');
    const third = new Set(await colours());
    assert.ok(first.has('azure=rgb(36, 88, 214)'), [...first].join(' '));
    assert.ok(
      second.has('azure=rgb(36, 88, 214)') && second.has('openai=rgb(155, 93, 229)'),
      [...second].join(' '),
    );
    assert.deepEqual([...third].sort(), [...second].sort());
  });

  test('every page refreshes itself while shown, but not while a detail is open', async () => {
    await open('nodes');
    const first = await page.getAttribute('main', 'data-refreshed-at');
    await eventually(
      async () => (await page.getAttribute('main', 'data-refreshed-at')) !== first,
      'the nodes page to refresh itself',
      20_000,
    );
  });
});
