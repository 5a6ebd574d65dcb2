// The agreement, exactly: one test per defect a finance reviewer found (scope, revenue bases,
// amendments that re-rated the past, carve-outs and conditions, validation holes, small requests
// billed nothing, one new price book unpricing every other model), each on the shipped example
// where it can be and on a purpose-built agreement where it must be.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { traffic, trafficRowsOf } from '../src/admin/console-data.js';
import { type Agreement, decideLicence, loadAgreement, parseAgreementText } from '../src/agreements/index.js';
import { parseConfigText } from '../src/config/index.js';
import {
  type LedgerSetup,
  ledgerSetupFor,
  loadPriceBooks,
  parsePriceBooks,
  planPostings,
  priceOf,
  shareTermsFor,
  unpricedWarnings,
} from '../src/ledger/index.js';
import type { RolloutEvent } from '../src/rollout/index.js';
import { compileCatalog, compileRouteTable, explainRoute } from '../src/routing/index.js';
import type { UsageRecord } from '../src/store/index.js';
import { usageRecord } from './helpers/records.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const example = loadAgreement(here('../../examples/agreement.yaml'));
const exampleText = readFileSync(here('../../examples/agreement.yaml'), 'utf8');
const exampleConfig = parseConfigText(
  readFileSync(here('../../examples/entente.yaml'), 'utf8'),
  'entente.yaml',
  {},
);
const exampleBooks = loadPriceBooks(here('../../examples/prices.yaml'));
const catalog = compileCatalog(exampleConfig);
const t = (s: string) => Date.parse(s);
const AFTER = t('2026-06-01T00:00:00Z'); // under the April 2026 amendment
const BEFORE = t('2026-01-15T00:00:00Z'); // under the October 2025 agreement

/** The seed rollout of the shipped config, as a log. */
const seedLog: RolloutEvent[] = (exampleConfig.agreement?.seedRollout ?? []).map((e, i) => ({
  kind: 'stage',
  ...e,
  atMs: BEFORE,
  seq: i + 1,
}));

function setup(agreement: Agreement = example): LedgerSetup {
  return ledgerSetupFor(exampleConfig, exampleBooks, agreement, []);
}

const sale = (id: string, over: Partial<UsageRecord>) =>
  usageRecord(id, { model: 'gpt-4o', modelVersion: '2024-11-20', tenantId: 'demo', ...over });

test('defect 1, scope: a third-party model is routed by plain policy, not gated, not counted, not accrued', () => {
  const table = compileRouteTable(catalog, example, seedLog, AFTER, ['microsoft']);
  const llama = table.models.get('llama-3.3-70b')!;
  // No Azure deployment, no rollout event, no waiver: still served at once.
  assert.equal(llama.governed, false);
  assert.deepEqual(
    llama.eligible.map((e) => e.deployment.cloud),
    ['aws'],
  );
  assert.match(llama.eligible[0]!.reason, /outside agreement 'microsoft-openai'/);
  assert.equal(table.licence('microsoft', 'llama-3.3-70b'), null, 'no licence applies to it');
  assert.equal(explainRoute(table, 'llama-3.3-70b', null).governed, false);
  // OpenAI's own models stay governed.
  assert.equal(table.models.get('gpt-4o')!.governed, true);
  // And its revenue accrues to no share of this agreement.
  const u = sale('r1', { model: 'llama-3.3-70b', modelVersion: '3.3', cloud: 'aws', startedAtMs: AFTER });
  assert.deepEqual(shareTermsFor(setup(), u, 'USD'), []);
  assert.equal(shareTermsFor(setup(), sale('r2', { startedAtMs: AFTER }), 'USD').length, 1);
  // Nor is it counted against the primary cloud's share of governed traffic.
  const records = [u, sale('r3', { cloud: 'azure', startedAtMs: AFTER })];
  const governed = (m: string) => table.models.get(m)?.governed !== false;
  assert.equal(
    traffic(trafficRowsOf(records, AFTER, 1000), AFTER, AFTER + 1000, 1000, 'azure', governed).totals
      .primaryShare,
    1,
  );
  assert.equal(
    traffic(trafficRowsOf(records, AFTER, 1000), AFTER, AFTER + 1000, 1000, 'azure').totals.primaryShare,
    0.5,
  );
});

test('defect 2, revenue bases: only the payer’s own sales that match the base accrue', () => {
  // The demo tenant buys from OpenAI (ledger.owner); the microsoft tenant is Microsoft's sale.
  const openaiSale = sale('a', { cloud: 'openai', startedAtMs: BEFORE });
  const msOnAzure = sale('b', { tenantId: 'microsoft', cloud: 'azure', startedAtMs: BEFORE });
  const msOnAws = sale('c', {
    tenantId: 'microsoft',
    cloud: 'aws',
    model: 'gpt-oss-120b',
    startedAtMs: BEFORE,
  });
  const ids = (u: UsageRecord) => shareTermsFor(setup(), u, 'USD').map((x) => x.share);
  assert.deepEqual(ids(openaiSale), ['microsoft-openai/openai-to-microsoft']);
  assert.deepEqual(ids(msOnAzure), ['microsoft-openai/microsoft-to-openai'], 'never OpenAI’s share');
  assert.deepEqual(ids(msOnAws), [], 'the Microsoft share’s base is Azure only');
  // After the amendment Microsoft pays no share: its sales accrue to nothing.
  assert.deepEqual(ids(sale('d', { tenantId: 'microsoft', cloud: 'azure', startedAtMs: AFTER })), []);
  // And the base's seller must be the payer: a share paid by Microsoft on OpenAI's sales is refused.
  const bad = exampleText.replace(
    'revenueBase: { seller: microsoft, ownedBy: [openai], clouds: [azure]',
    'revenueBase: { seller: openai, ownedBy: [openai], clouds: [azure]',
  );
  assert.throws(() => parseAgreementText(bad, 'a.yaml'), /revenue_base_seller_mismatch/);
});

/** A share whose rate an amendment halves, with its own cap statement per version. */
function amended(rateBefore: string, rateAfter: string, capAfter: string | null): Agreement {
  const version = (id: string, from: string, rate: string, cap: string | null) => `  - id: ${id}
    kind: ${id === 'v1' ? 'original' : 'amendment'}
    validFrom: ${from}
    recordedAt: ${from}
    terms:
      scope: { models: ["*"] }
      cloud: { primary: azure }
      revenueShares:
        - id: share
          payer: op
          payee: partner
          rate: "${rate}"
          revenueBase: { seller: op }
          term: { from: 2026-01-01T00:00:00Z }
${cap ? `          cap: { amount: "${cap}", currency: USD }\n` : ''}          milestoneIndependent: true
`;
  return parseAgreementText(
    `id: deal
title: t
parties: [{ id: op, name: Op }, { id: partner, name: Partner }]
versions:
${version('v1', '2026-01-01T00:00:00Z', rateBefore, null)}${version('v2', '2026-04-01T00:00:00Z', rateAfter, capAfter)}`,
    'deal.yaml',
  );
}

test('defect 3, amendments never rewrite the past: earlier revenue keeps its rate; no posting is negative', () => {
  const agreement = amended('20/100', '10/100', null);
  const s: LedgerSetup = { priceBooks: exampleBooks, agreement, owner: 'op' };
  const rec = (id: string, at: string) =>
    sale(id, { tokensInputUncached: 1_000_000, tokensOutput: 0, startedAtMs: t(at) });
  const input = (u: UsageRecord) => ({
    usage: u,
    revenuePico: 2_500_000n * 1_000_000n, // $2.50 of gpt-4o input
    currency: 'USD',
    seller: 'op',
    terms: shareTermsFor(s, u, 'USD'),
  });
  // Revenue before the amendment is posted first; then revenue after it; then a late record
  // dated before it.
  let states = new Map();
  const accruals: bigint[] = [];
  for (const u of [
    rec('a', '2026-02-01T00:00:00Z'),
    rec('b', '2026-05-01T00:00:00Z'),
    rec('c', '2026-03-01T00:00:00Z'),
  ]) {
    const plan = planPostings([input(u)], new Map(), states, new Set());
    states = plan.states;
    for (const tx of plan.txs.filter((x) => x.code === 'accrual'))
      accruals.push(tx.entries.find((e) => e.account.startsWith('revshare-payable'))!.amountMicros);
  }
  // 20% of $2.50, 10% of $2.50, then 20% again for the late record dated before the amendment.
  assert.deepEqual(accruals, [-500_000n, -250_000n, -500_000n]);
  assert.equal(states.get('deal/share@v1').accruedMicros, 1_000_000n);
  assert.equal(states.get('deal/share@v2').accruedMicros, 250_000n);
});

test('defect 3, the cap is total across segments: an amendment’s cap counts what earlier versions accrued', () => {
  const agreement = amended('20/100', '10/100', '0.600000');
  const s: LedgerSetup = { priceBooks: exampleBooks, agreement, owner: 'op' };
  const input = (id: string, at: string) => {
    const u = sale(id, { startedAtMs: t(at) });
    return {
      usage: u,
      revenuePico: 2_500_000n * 1_000_000n,
      currency: 'USD',
      seller: 'op',
      terms: shareTermsFor(s, u, 'USD'),
    };
  };
  const plan = planPostings(
    [
      input('a', '2026-02-01T00:00:00Z'),
      input('b', '2026-05-01T00:00:00Z'),
      input('c', '2026-06-01T00:00:00Z'),
    ],
    new Map(),
    new Map(),
    new Set(),
  );
  // 0.50 under v1 (uncapped then), 0.10 more under v2 reaches its 0.60 cap, then nothing.
  assert.equal(plan.states.get('deal/share@v1')!.accruedMicros, 500_000n);
  assert.equal(plan.states.get('deal/share@v2')!.accruedMicros, 100_000n);
});

test('defect 4, carve-outs: an open-weight model serves on any cloud at once; a national-security tenant too', () => {
  // Only Azure GA is seeded for nothing here: an empty log.
  const table = compileRouteTable(catalog, example, [], AFTER, []);
  const oss = table.models.get('gpt-oss-120b')!;
  assert.deepEqual(oss.eligible.map((e) => e.deployment.cloud).sort(), ['aws', 'azure', 'gcp']);
  assert.deepEqual(
    oss.carveOuts.map((c) => c.id),
    ['open-weight-models'],
  );
  // gpt-4o has no carve-out: without a primary GA only Azure may serve it.
  assert.deepEqual(
    table.models.get('gpt-4o')!.eligible.map((e) => e.deployment.cloud),
    ['azure', 'azure'],
  );
  assert.deepEqual(
    table.models.get('gpt-4o')!.excluded.map((x) => x.code),
    ['not_yet_deployed_on_primary'],
  );
  // A tenant a carve-out names gets its own entry (us-national-security, in the example).
  const natsec = table.entryFor('gpt-4o', 'us-national-security')!;
  assert.deepEqual(natsec.eligible.map((e) => e.deployment.cloud).sort(), ['azure', 'azure', 'openai']);
  assert.equal(table.entryFor('gpt-4o', 'demo'), table.models.get('gpt-4o'));
  // Under the 2025 exclusivity the open-weight carve-out also lifts exclusivity.
  const before = compileRouteTable(catalog, example, [], BEFORE, []);
  assert.deepEqual(
    before.models
      .get('gpt-oss-120b')!
      .eligible.map((e) => e.deployment.cloud)
      .sort(),
    ['aws', 'azure', 'gcp'],
  );
  assert.deepEqual(
    before.models.get('gpt-4o')!.excluded.map((x) => x.code),
    ['cloud_not_permitted'],
  );
});

test('defect 4, a revenue-share carve-out exempts what it selects from accrual', () => {
  const text = exampleText.replace(
    '          models: ["gpt-oss-*"]\n        - id: us-national-security-any-cloud\n          title: US national-security customers on any cloud',
    '          models: ["gpt-oss-*"]\n        - id: oss-no-share\n          exempts: [revenue-share]\n          models: ["gpt-oss-*"]\n        - id: us-national-security-any-cloud\n          title: US national-security customers on any cloud',
  );
  const a = parseAgreementText(text, 'a.yaml');
  const u = sale('x', { model: 'gpt-oss-120b', cloud: 'aws', startedAtMs: AFTER });
  assert.equal(shareTermsFor(setup(example), u, 'USD').length, 1);
  assert.equal(shareTermsFor(setup(a), u, 'USD').length, 0);
});

test('defect 4, conditions: an AGI declaration ends an until-agi-verified grant at its instant', () => {
  const text = exampleText.replaceAll(
    '          exclusivity: non-exclusive    # now non-exclusive\n',
    '          exclusivity: non-exclusive    # now non-exclusive\n          conditions: [{ kind: until-agi-verified }]\n',
  );
  const a = parseAgreementText(text, 'a.yaml');
  const declaredAt = t('2026-07-01T00:00:00Z');
  const declarations = [{ kind: 'agi-verified' as const, atMs: declaredAt, panelRecordRef: 'panel-2026-07' }];
  assert.equal(decideLicence(a, 'microsoft', 'gpt-4o', declaredAt - 1, { declarations }).allowed, true);
  const after = decideLicence(a, 'microsoft', 'gpt-4o', declaredAt, { declarations });
  assert.equal(after.allowed, false);
  assert.equal(!after.allowed && after.reason, 'licence_expired');
  assert.match(!after.allowed ? after.message : '', /AGI declaration .*panel record panel-2026-07/);
  // Without a declaration the grant runs its term; the route table reads declarations from the log.
  assert.equal(decideLicence(a, 'microsoft', 'gpt-4o', declaredAt).allowed, true);
  const log: RolloutEvent[] = [
    {
      kind: 'declaration',
      declaration: 'agi-verified',
      panelRecordRef: 'panel-2026-07',
      atMs: declaredAt,
      seq: 1,
    },
  ];
  assert.equal(
    compileRouteTable(catalog, a, log, declaredAt + 1, ['microsoft']).licence('microsoft', 'gpt-4o')?.allowed,
    false,
  );
  // An until-date condition ends a grant at its date.
  const dated = parseAgreementText(
    exampleText.replace(
      '          exclusivity: non-exclusive    # now non-exclusive\n',
      '          exclusivity: non-exclusive    # now non-exclusive\n          conditions: [{ kind: until-date, until: 2026-09-01T00:00:00Z }]\n',
    ),
    'a.yaml',
  );
  assert.equal(decideLicence(dated, 'microsoft', 'gpt-4o', t('2026-08-31T23:59:59Z')).allowed, true);
  assert.equal(decideLicence(dated, 'microsoft', 'gpt-4o', t('2026-09-01T00:00:00Z')).allowed, false);
  // A milestone-dependent share (the 2025 one) stops accruing on revenue dated from the declaration.
  const s = ledgerSetupFor(exampleConfig, exampleBooks, example, [
    { kind: 'agi-verified', atMs: t('2026-02-01T00:00:00Z'), panelRecordRef: 'p' },
  ]);
  assert.equal(shareTermsFor(s, sale('m1', { startedAtMs: t('2026-01-31T00:00:00Z') }), 'USD').length, 1);
  assert.equal(shareTermsFor(s, sale('m2', { startedAtMs: t('2026-02-01T00:00:00Z') }), 'USD').length, 0);
  // The amendment's share is milestone-independent: it accrues whatever was declared.
  assert.equal(shareTermsFor(s, sale('m3', { startedAtMs: AFTER }), 'USD').length, 1);
});

test('defect 4, product grants gate the API surfaces they name', () => {
  const text = exampleText.replace(
    '          products: [chat, responses, embeddings]\n          models: ["*"]\n          term: { from: 2025-10-28T00:00:00Z, to: 2033-01-01T00:00:00Z }\n          exclusivity: non-exclusive',
    '          products: [chat, embeddings]\n          models: ["*"]\n          term: { from: 2025-10-28T00:00:00Z, to: 2026-05-01T00:00:00Z }\n          exclusivity: non-exclusive\n        - id: ms-product-responses\n          licensor: openai\n          licensee: microsoft\n          subject: products\n          products: [responses]\n          models: ["*"]\n          term: { from: 2025-10-28T00:00:00Z, to: 2033-01-01T00:00:00Z }\n          exclusivity: non-exclusive',
  );
  const a = parseAgreementText(text, 'a.yaml');
  const d = (surface: 'chat' | 'responses' | 'embeddings') =>
    decideLicence(a, 'microsoft', 'gpt-4o', AFTER, { surface });
  assert.equal(d('responses').allowed, true);
  assert.equal(d('chat').allowed, false);
  assert.equal(!d('chat').allowed && (d('chat') as { reason: string }).reason, 'product_not_licensed');
  assert.equal(d('embeddings').allowed, false);
  // The route table carries the per-surface decision.
  const table = compileRouteTable(catalog, a, seedLog, AFTER, ['microsoft']);
  assert.equal(table.licence('microsoft', 'gpt-4o', 'responses')?.allowed, true);
  assert.equal(table.licence('microsoft', 'gpt-4o', 'chat')?.allowed, false);
});

test('defect 5, validation: each hole is refused with a stable code and its location', () => {
  const code = (text: string, clouds?: ReadonlySet<string>) => {
    try {
      parseAgreementText(text, 'bad.yaml', clouds ? { clouds } : {});
    } catch (err) {
      const p = (err as { problems: { code?: string; line: number; column: number }[] }).problems[0]!;
      assert.ok(p.line > 0 && p.column > 0, 'located');
      return p.code;
    }
    return 'accepted';
  };
  const clouds = new Set(['azure', 'openai', 'aws', 'gcp']);
  assert.equal(code(exampleText, clouds), 'accepted');
  const variants: [string, string, string, ReadonlySet<string>?][] = [
    [
      'primary: azure                  # Azure stays',
      'primary: azurre                 # Azure stays',
      'unknown_cloud',
      clouds,
    ],
    ['  - { id: microsoft, name: Microsoft,', '  - { id: openai, name: Microsoft,', 'duplicate_id'],
    ['validFrom: 2026-04-27T00:00:00Z', 'validFrom: 2026-02-30T00:00:00Z', 'invalid_date'],
    ['validFrom: 2026-04-27T00:00:00Z', 'validFrom: 2026-04-27T24:00:00Z', 'invalid_date'],
    ['validFrom: 2026-04-27T00:00:00Z', 'validFrom: 2026-13-01T00:00:00Z', 'invalid_date'],
    ['validFrom: 2026-04-27T00:00:00Z', 'validFrom: 2026-04-27T00:00:00+25:00', 'invalid_date'],
    ['validFrom: 2026-04-27T00:00:00Z', 'validFrom: 2026-04-27T00:00:00', 'invalid_date'],
    ['exempts: [primary-first]\n', 'exempts: []\n', 'invalid_value'],
    ['exempts: [primary-first]\n', 'exempts: [everything]\n', 'invalid_value'],
    [
      '          exempts: [primary-first]\n          models: ["gpt-oss-*"]\n',
      '          exempts: [primary-first]\n',
      'carve_out_selects_nothing',
    ],
    [
      'revenueBase: { seller: openai, ownedBy: [openai], note: "OpenAI\'s revenue from its models, on any cloud" }\n          term: { from: 2025-10-28T00:00:00Z, to: 2031',
      'revenueBase: openai-gross-revenue\n          term: { from: 2025-10-28T00:00:00Z, to: 2031',
      'invalid_type',
    ],
    [
      'revenueBase: { seller: openai, ownedBy: [openai], note: "OpenAI\'s revenue from its models, on any cloud" }\n          term: { from: 2025-10-28T00:00:00Z, to: 2031',
      'revenueBase: { seller: amazon }\n          term: { from: 2025-10-28T00:00:00Z, to: 2031',
      'unknown_party',
    ],
    [
      'revenueBase: { seller: openai, ownedBy: [openai], note: "OpenAI\'s revenue from its models, on any cloud" }\n          term: { from: 2025-10-28T00:00:00Z, to: 2031',
      'revenueBase: { seller: openai, surfaces: [fax] }\n          term: { from: 2025-10-28T00:00:00Z, to: 2031',
      'invalid_value',
    ],
    [
      'revenueBase: { seller: openai, ownedBy: [openai], note: "OpenAI\'s revenue from its models, on any cloud" }\n          term: { from: 2025-10-28T00:00:00Z, to: 2031',
      'revenueBase: { seller: openai, colour: blue }\n          term: { from: 2025-10-28T00:00:00Z, to: 2031',
      'unknown_field',
    ],
    [
      '          products: [chat, responses, embeddings]\n          models: ["*"]\n          term: { from: 2025-10-28T00:00:00Z, to: 2033-01-01T00:00:00Z }\n          exclusivity: non-exclusive',
      '          models: ["*"]\n          term: { from: 2025-10-28T00:00:00Z, to: 2033-01-01T00:00:00Z }\n          exclusivity: non-exclusive',
      'products_missing',
    ],
    ['conditions: [{ kind: until-agi-verified }]\n', 'conditions: [{ kind: until-date }]\n', 'missing_field'],
    [
      'subject: research-ip\n',
      'subject: research-ip\n          products: [chat]\n',
      'products_not_applicable',
    ],
    [
      'scope: { ownedBy: [openai] }\n      cloud:\n        primary: azure                  # Azure stays',
      'scope: { owners: [openai] }\n      cloud:\n        primary: azure                  # Azure stays',
      'unknown_field',
    ],
  ];
  for (const [from, to, want, withClouds] of variants) {
    assert.ok(exampleText.includes(from), `the variant applies: ${from.slice(0, 40)}`);
    assert.equal(code(exampleText.replace(from, to), withClouds), want, `${to.slice(0, 60)} → ${want}`);
  }
});

test('defect 7, small requests are not free: 100,000 requests of a third of a micro-unit book what they cost', () => {
  const inputs = Array.from({ length: 100_000 }, (_, i) => ({
    usage: usageRecord(`t${i}`, { tenantId: 'acme' }),
    revenuePico: 333_333n, // one embedding token at $0.333333 per million
    currency: 'USD',
    seller: 'op',
    terms: [],
  }));
  const plan = planPostings(inputs, new Map(), new Map(), new Set());
  let booked = 0n;
  for (const tx of plan.txs)
    for (const e of tx.entries) if (e.account === 'receivable:acme') booked += e.amountMicros;
  // Exactly floor(10⁵ × 333,333 / 10⁶) = 33,333 micro-units; per-request flooring gave 0.
  assert.equal(booked, 33_333n);
  assert.equal(plan.states.get('carry:USD:op:acme')!.remainderPico, 300_000n, 'the rest waits');
});

test('defect 8, prices resolve per model: a book that adds one model leaves the others priced; a book can retire one', () => {
  const books = parsePriceBooks(
    `currency: USD
books:
  - id: list
    effectiveFrom: 2026-01-01T00:00:00Z
    prices:
      - { model: a, inputUncached: "1.00", inputCached: "0.50", output: "2.00" }
      - { model: b, inputUncached: "3.00", inputCached: "1.50", output: "6.00" }
  - id: adds-c
    effectiveFrom: 2026-06-01T00:00:00Z
    prices:
      - { model: c, inputUncached: "9.00", inputCached: "9.00", output: "9.00" }
  - id: retires-b
    effectiveFrom: 2026-09-01T00:00:00Z
    prices:
      - { model: b, retired: true }
`,
    'p.yaml',
  );
  const at = t('2026-07-01T00:00:00Z');
  assert.equal(priceOf(books, 'a', '1', at)?.bookId, 'list', 'a keeps its price');
  assert.equal(priceOf(books, 'c', '1', at)?.bookId, 'adds-c');
  assert.equal(priceOf(books, 'b', '1', at)?.bookId, 'list');
  assert.equal(priceOf(books, 'b', '1', t('2026-09-01T00:00:00Z')), null, 'retired');
  const warnings = unpricedWarnings(
    books,
    [
      { name: 'a', versions: ['1'] },
      { name: 'b', versions: ['1'] },
      { name: 'd', versions: ['1'] },
    ],
    t('2026-10-01T00:00:00Z'),
  );
  assert.deepEqual(
    warnings.map((w) => /^\[model_unpriced\] (\S+)/.exec(w)?.[1]),
    ['b', 'd'],
  );
  // The shipped books: a December book for one third-party model leaves every OpenAI model priced.
  assert.deepEqual(
    unpricedWarnings(
      exampleBooks,
      [...catalog.values()].map((m) => ({
        name: m.name,
        versions: [...new Set(m.deployments.map((d) => d.modelVersion))],
      })),
      t('2026-12-15T00:00:00Z'),
    ),
    [],
  );
});
