// The worked example of docs/agreements.md ("The reference scenario, worked"), step for step: the
// shipped agreement, config and price books, a real store, and the figures the document states.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadAgreement } from '../src/agreements/index.js';
import { parseConfigText } from '../src/config/index.js';
import { balances, formatMicros, ledgerSetupFor, loadPriceBooks, postUsage } from '../src/ledger/index.js';
import { SqliteStore, type UsageRecord } from '../src/store/index.js';
import { usageRecord } from './helpers/records.js';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const config = parseConfigText(readFileSync(here('../../examples/entente.yaml'), 'utf8'), 'entente.yaml', {});
const setup = ledgerSetupFor(
  config,
  loadPriceBooks(here('../../examples/prices.yaml')),
  loadAgreement(here('../../examples/agreement.yaml')),
  [],
);
const doc = readFileSync(here('../../docs/agreements.md'), 'utf8');

const step = (id: string, over: Partial<UsageRecord>): UsageRecord =>
  usageRecord(id, { tokensInputUncached: 0, tokensOutput: 0, ...over });

const steps: UsageRecord[] = [
  // 1. OpenAI's own API sale of gpt-4o on Azure, under the October 2025 agreement.
  step('s1', {
    tenantId: 'demo',
    model: 'gpt-4o',
    modelVersion: '2024-11-20',
    cloud: 'azure',
    tokensInputUncached: 1_000_000,
    startedAtMs: Date.parse('2026-01-15T00:00:00Z'),
  }),
  // 2. Microsoft's sale of an OpenAI model on Azure, the same day.
  step('s2', {
    tenantId: 'microsoft',
    model: 'gpt-4o',
    modelVersion: '2024-11-20',
    cloud: 'azure',
    tokensInputUncached: 1_000_000,
    startedAtMs: Date.parse('2026-01-15T00:00:00Z'),
  }),
  // 3. The same Microsoft sale after the amendment: Microsoft no longer pays a share.
  step('s3', {
    tenantId: 'microsoft',
    model: 'gpt-4o',
    modelVersion: '2024-11-20',
    cloud: 'azure',
    tokensInputUncached: 1_000_000,
    startedAtMs: Date.parse('2026-06-01T00:00:00Z'),
  }),
  // 4. OpenAI's sale on its own cloud after the amendment: the amendment's segment, same rate.
  step('s4', {
    tenantId: 'demo',
    model: 'gpt-4o',
    modelVersion: '2024-11-20',
    cloud: 'openai',
    tokensInputUncached: 1_000_000,
    startedAtMs: Date.parse('2026-06-01T00:00:00Z'),
  }),
  // 5. An open-weight model on Bedrock: carved out of primary-first, not out of the share.
  step('s5', {
    tenantId: 'demo',
    model: 'gpt-oss-120b',
    modelVersion: '2025-08-05',
    cloud: 'aws',
    tokensInputUncached: 1_000_000,
    startedAtMs: Date.parse('2026-12-10T00:00:00Z'),
  }),
  // 6. A third party's model: outside the agreement's scope.
  step('s6', {
    tenantId: 'demo',
    model: 'llama-3.3-70b',
    modelVersion: '3.3',
    cloud: 'aws',
    tokensInputUncached: 1_000_000,
    startedAtMs: Date.parse('2026-12-10T00:00:00Z'),
  }),
  // 7. 10,000 embedding requests of 5 tokens each ($0.0000001 each).
  ...Array.from({ length: 10_000 }, (_, i) =>
    step(`e${i}`, {
      tenantId: 'demo',
      model: 'text-embedding-3-small',
      modelVersion: '1',
      cloud: 'azure',
      surface: 'embeddings',
      tokensInputUncached: 5,
      startedAtMs: Date.parse('2026-12-10T00:00:00Z') + i,
    }),
  ),
];

test('the reference scenario, worked: each step accrues where docs/agreements.md says', async () => {
  assert.match(doc, /## The reference scenario, worked/);
  const store = new SqliteStore(':memory:');
  await store.migrate();
  try {
    const r = await postUsage(store, steps, setup);
    assert.equal(r.posted, steps.length);
    const b = await balances(store);
    const amount = (account: string) => formatMicros(-(b.get(account) ?? 0n));
    const states = await store.accrualStates();
    const segment = (id: string) => formatMicros(states.get(`microsoft-openai/${id}`)?.accruedMicros ?? 0n);
    // Steps 1 and 4 (and 5 and 7) accrue to OpenAI's share, each in its version's segment.
    assert.equal(segment('openai-to-microsoft@2025-10-definitive'), '0.500000');
    // 4: $2.50 → 0.50; 5: 1M gpt-oss input tokens at $0.15 → 0.03; 7: $0.001 → 0.0002.
    assert.equal(segment('openai-to-microsoft@2026-04-amendment'), '0.530200');
    // Step 2 accrues to Microsoft's share; step 3 to nothing.
    assert.equal(segment('microsoft-to-openai@2025-10-definitive'), '0.500000');
    assert.equal(amount('revshare-payable:microsoft:microsoft-openai/openai-to-microsoft'), '1.030200');
    assert.equal(amount('revshare-payable:openai:microsoft-openai/microsoft-to-openai'), '0.500000');
    // Revenue by seller: OpenAI sold steps 1, 4, 5, 6, 7; Microsoft steps 2 and 3.
    assert.equal(amount('revenue:openai'), '5.871000'); // 2.50 + 2.50 + 0.15 + 0.72 + 0.001
    assert.equal(amount('revenue:microsoft'), '5.000000');
    // Step 7: 10,000 requests of 0.1 micro-unit book 1,000 micro-units, not 0.
    assert.equal(formatMicros(b.get('receivable:demo') ?? 0n), '5.871000');
    // Every figure above appears in the document.
    for (const figure of ['0.500000', '0.530200', '1.030200', '5.871000', '5.000000'])
      assert.ok(doc.includes(figure), `docs/agreements.md states ${figure}`);
  } finally {
    await store.close();
  }
});
