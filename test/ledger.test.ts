// The ledger's invariants (DESIGN.md section 3: cap, rounding, term, exactly once, balance,
// pricing), on both stores, checked against a straightforward computation written here.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { type Agreement, parseAgreementText } from '../src/agreements/index.js';
import { systemClock } from '../src/clock/index.js';
import {
  balances,
  buildStatement,
  capCurrencyProblems,
  type LedgerSetup,
  parsePriceBooks,
  periodOf,
  postRefund,
  postUsage,
  priceOf,
  revenueOf,
  revenuePicoOf,
  shareTermsFor,
  statementCsv,
} from '../src/ledger/index.js';
import type { Store, UsageRecord } from '../src/store/index.js';
import { backends } from './helpers/backends.js';
import { usageRecord } from './helpers/records.js';
import { shareAgreementYaml } from './helpers/share-agreement.js';

test('periodOf names the calendar month of any instant, whatever came before (its month cache)', () => {
  // Instants anywhere in the Date range, and just around month boundaries of any year (the years
  // 0–99, which Date.UTC would read as 1900–1999, included).
  const edge = fc
    .tuple(
      fc.integer({ min: -2000, max: 12000 }),
      fc.integer({ min: 0, max: 11 }),
      fc.integer({ min: -1, max: 1 }),
    )
    .map(([y, m, d]) => new Date(0).setUTCFullYear(y, m, 1) + d);
  const anyMs = fc.integer({ min: -8.64e15, max: 8.64e15 });
  // A month of the years 0–99, then the same month 1900 years on: a cache bounded by Date.UTC
  // would name the second by the first.
  const aliased = fc
    .tuple(fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 11 }))
    .map(([y, m]) => [new Date(0).setUTCFullYear(y, m, 15), new Date(0).setUTCFullYear(1900 + y, m, 15)]);
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          edge.map((x) => [x]),
          anyMs.map((x) => [x]),
          aliased,
        ),
        { minLength: 1, maxLength: 50 },
      ),
      (runs) => {
        for (const ms of runs.flat())
          assert.equal(periodOf(ms), new Date(ms).toISOString().slice(0, 7), String(ms));
      },
    ),
    { numRuns: 500 },
  );
});

const books = parsePriceBooks(
  `currency: USD
books:
  - id: b1
    effectiveFrom: 2026-01-01T00:00:00Z
    prices:
      - { model: m, inputUncached: "3.00", inputCached: "0.30", output: "15.00", reasoning: "12.00" }
  - id: b2
    effectiveFrom: 2026-06-01T00:00:00Z
    prices:
      - { model: m, inputUncached: "2.00", inputCached: "0.20", output: "10.00" }
      - { model: m, modelVersion: special, inputUncached: "1.00", inputCached: "0.10", output: "5.00" }
`,
  'prices.yaml',
);

function agreementText(rate: string, cap: string | null, from: string, to: string, currency = 'USD'): string {
  return shareAgreementYaml({ rate, cap, from, to, currency });
}

function agreementWith(
  rate: string,
  cap: string | null,
  from: string,
  to: string,
  currency = 'USD',
): Agreement {
  return parseAgreementText(agreementText(rate, cap, from, to, currency), 'a.yaml');
}

function usage(i: number, over: Partial<UsageRecord> = {}): UsageRecord {
  return usageRecord(`r${i}`, {
    tenantId: i % 3 === 0 ? 'acme' : 'globex',
    region: 'eastus',
    tokensInputUncached: 100 + i,
    tokensInputCached: i % 5,
    tokensOutput: 7 * i,
    tokensReasoning: i % 4,
    startedAtMs: Date.parse('2026-03-01') + i * 3_600_000,
    ...over,
  });
}

test('pricing: buckets are disjoint, cached tokens are billed once at the cached price', () => {
  const p = priceOf(books, 'm', '1', Date.parse('2026-03-01'))!;
  assert.equal(p.bookId, 'b1');
  const u = {
    tokensInputUncached: 1_000_000,
    tokensInputCached: 1_000_000,
    tokensOutput: 1_000_000,
    tokensReasoning: 1_000_000,
  };
  assert.equal(revenueOf(p.entry, u), 3_000_000n + 300_000n + 15_000_000n + 12_000_000n);
  // Reasoning defaults to the output price; a version-specific price wins over the model's.
  const p2 = priceOf(books, 'm', '1', Date.parse('2026-07-01'))!;
  assert.equal(revenueOf(p2.entry, { ...u, tokensInputCached: 0 }), 2_000_000n + 10_000_000n + 10_000_000n);
  assert.equal(priceOf(books, 'm', 'special', Date.parse('2026-07-01'))!.entry.output, 5_000_000n);
  // One rounding step: floor of the sum, not a sum of floors.
  assert.equal(
    revenueOf(p.entry, { tokensInputUncached: 1, tokensInputCached: 0, tokensOutput: 1, tokensReasoning: 0 }),
    18n,
  );
  assert.equal(priceOf(books, 'unknown', '1', Date.parse('2026-03-01')), null, 'unpriced: fail closed');
  assert.equal(priceOf(books, 'm', '1', Date.parse('2025-12-31')), null, 'before the first book');
});

test('a cap in a currency no price book bills in is an error', () => {
  assert.deepEqual(
    capCurrencyProblems(agreementWith('1/10', '5', '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z'), books),
    [],
  );
  const eur = agreementWith('1/10', '5', '2026-01-01T00:00:00Z', '2027-01-01T00:00:00Z', 'EUR');
  assert.match(
    capCurrencyProblems(eur, books)[0] ?? '',
    /^\[cap_currency_unpriced\] version v1, revenue share share: the cap is in EUR/,
  );
  // And such a term never accrues against USD revenue.
  assert.deepEqual(
    shareTermsFor(
      { priceBooks: books, agreement: eur, owner: 'op' },
      usageRecord('r', { startedAtMs: Date.parse('2026-06-01') }),
      'USD',
    ),
    [],
  );
});

/**
 * The straightforward computation the ledger must agree with: revenue exact in pico-units, booked
 * per tenant as floor(Σ / 10⁶); the share on the exact eligible sum, floored once.
 */
function expected(records: readonly UsageRecord[], agreement: Agreement) {
  const share = agreement.versions[0]!.terms.revenueShares[0]!;
  const unique = new Map(records.map((r) => [r.requestId, r]));
  const perTenant = new Map<string, bigint>();
  let eligible = 0n;
  for (const r of unique.values()) {
    const p = priceOf(books, r.model, r.modelVersion, r.startedAtMs);
    if (!p) continue;
    const v = revenuePicoOf(p.entry, r);
    perTenant.set(r.tenantId, (perTenant.get(r.tenantId) ?? 0n) + v);
    if (r.startedAtMs >= share.term.from && r.startedAtMs < (share.term.to ?? Number.POSITIVE_INFINITY))
      eligible += v;
  }
  let revenue = 0n;
  for (const v of perTenant.values()) revenue += v / 1_000_000n;
  const uncapped = (eligible * share.rate.num) / (share.rate.den * 1_000_000n);
  const accrued = share.cap && uncapped > share.cap.amount ? share.cap.amount : uncapped;
  return { revenue, eligible, accrued };
}

async function ledgerOf(store: Store) {
  const rows = await store.ledgerRows();
  const byTx = new Map<string, bigint>();
  for (const r of rows) byTx.set(r.txId, (byTx.get(r.txId) ?? 0n) + r.amountMicros);
  for (const [tx, sum] of byTx) assert.equal(sum, 0n, `transaction ${tx} balances`);
  const b = await balances(store);
  const sumAll = [...b.values()].reduce((a, x) => a + x, 0n);
  assert.equal(sumAll, 0n, 'the whole ledger balances');
  return {
    rows,
    balances: b,
    accrued: -(b.get('revshare-payable:partner:acme/share') ?? 0n),
    revenue: -(b.get('revenue:op') ?? 0n),
  };
}

const all = backends('ledger');

for (const b of all) {
  describe(`ledger on ${b.name}`, { skip: b.skip }, () => {
    test('property: random usage, duplicates, shuffles and batches give the independent result, capped exactly', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 40 }),
          fc.constantFrom('20/100', '1/3', '7/1000', '1/1', '0/1'),
          fc.option(fc.constantFrom('0.000100', '0.010000', '0.050000', '1000'), { nil: null }),
          fc.constantFrom(
            ['2026-01-01T00:00:00Z', '2030-01-01T00:00:00Z'],
            ['2026-03-01T10:00:00Z', '2026-03-02T00:00:00Z'],
          ),
          fc.array(fc.nat(), { minLength: 1, maxLength: 60 }),
          fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 10 }),
          async (n, rate, cap, [from, to], picks, batchSizes) => {
            const store = await b.open();
            try {
              const agreement = agreementWith(rate, cap, from!, to!);
              const setup: LedgerSetup = { priceBooks: books, agreement, owner: 'op' };
              const universe = Array.from({ length: n }, (_, i) => usage(i));
              // Deliveries: every record at least once, plus random duplicates, in random order.
              const deliveries = [...universe, ...picks.map((p) => universe[p % n]!)];
              deliveries.sort((x, y) => (x.requestId + picks.length).localeCompare(y.requestId) || 0);
              for (let i = deliveries.length - 1; i > 0; i--) {
                const j = picks[i % picks.length]! % (i + 1);
                [deliveries[i], deliveries[j]] = [deliveries[j]!, deliveries[i]!];
              }
              let k = 0;
              for (let i = 0; i < deliveries.length; ) {
                const size = batchSizes[k++ % batchSizes.length]!;
                const batch = deliveries.slice(i, i + size);
                await postUsage(store, batch, setup);
                if (k % 3 === 0) await postUsage(store, batch, setup); // a retry of the same batch
                i += size;
              }
              const got = await ledgerOf(store);
              const want = expected(universe, agreement);
              assert.equal(got.revenue, want.revenue, 'revenue');
              assert.equal(got.accrued, want.accrued, 'accrued = min(cap, floor(rate × Σ eligible revenue))');
              const states = await store.accrualStates();
              assert.equal(states.get('acme/share@v1')?.accruedMicros ?? 0n, want.accrued);
              if (cap) assert.ok(got.accrued <= BigInt(Math.round(Number(cap) * 1e6)), 'never past the cap');
            } finally {
              await store.close();
            }
          },
        ),
        { numRuns: b.name === 'sqlite' ? 40 : 15 },
      );
    });

    test('exactly once: a replay, shuffled and duplicated, gives the identical ledger; a reused id with another payload is rejected', async () => {
      const agreement = agreementWith('20/100', '0.050000', '2026-01-01T00:00:00Z', '2030-01-01T00:00:00Z');
      const setup: LedgerSetup = { priceBooks: books, agreement, owner: 'op' };
      const records = Array.from({ length: 30 }, (_, i) => usage(i));
      const a = await b.open();
      const c = await b.open();
      try {
        await postUsage(a, records, setup);
        // Canonical replay order (what `usage replay` does) → every entry identical.
        const shuffled = [...records, ...records.slice(0, 10)].reverse();
        await postUsage(
          c,
          [...shuffled].sort(
            (x, y) => x.startedAtMs - y.startedAtMs || x.requestId.localeCompare(y.requestId),
          ),
          setup,
        );
        const la = await ledgerOf(a);
        const lc = await ledgerOf(c);
        assert.deepEqual(lc.balances, la.balances);
        const key = (r: { txId: string; account: string; amountMicros: bigint }) =>
          `${r.txId}|${r.account}|${r.amountMicros}`;
        assert.deepEqual(lc.rows.map(key).sort(), la.rows.map(key).sort());
        // Shuffled without sorting: balances identical (only the split of accrual entries may differ).
        const d = await b.open();
        await postUsage(d, shuffled, setup);
        assert.deepEqual((await ledgerOf(d)).balances, la.balances);
        await d.close();
        const r = await postUsage(a, [usage(3, { tokensOutput: 999_999 })], setup);
        assert.equal(r.conflict, 1);
        assert.deepEqual(
          (await ledgerOf(a)).balances,
          la.balances,
          'the conflicting payload changed nothing',
        );
      } finally {
        await a.close();
        await c.close();
      }
    });

    test('refunds: never more than the revenue, idempotent, and the accrual follows the cap policy', async () => {
      for (const policy of ['reduce-accrual', 'ignore'] as const) {
        const store = await b.open();
        try {
          const records = Array.from({ length: 4 }, (_, i) => usage(i + 10));
          const revenues = records.map((r) => revenueOf(priceOf(books, 'm', '1', r.startedAtMs)!.entry, r));
          const total = revenues.reduce((a, x) => a + x, 0n);
          // The cap sits just under the uncapped accrual, so a refund takes the recomputed
          // figure below it: the two policies must then disagree.
          const capMicros = (total * 20n) / 100n - 5n;
          const text = shareAgreementYaml({
            rate: '20/100',
            cap: `0.${capMicros.toString().padStart(6, '0')}`,
            from: '2026-01-01T00:00:00Z',
            to: '2030-01-01T00:00:00Z',
            refundsAfterCap: policy,
          });
          const setup: LedgerSetup = {
            priceBooks: books,
            agreement: parseAgreementText(text, 'a.yaml'),
            owner: 'op',
          };
          await store.appendUsage(records);
          await postUsage(store, records, setup);
          const before = await ledgerOf(store);
          const revenue0 = revenues[0]!;
          assert.equal(before.accrued, capMicros, 'the cap is reached');
          const at = Date.parse('2026-05-01');
          const half = revenue0 / 2n;
          const r1 = await postRefund(
            store,
            { refundId: 'rf1', requestId: 'r10', amountMicros: half, atMs: at },
            setup,
          );
          assert.ok(r1.ok && !r1.duplicate);
          const after = await ledgerOf(store);
          assert.equal(after.revenue, before.revenue - half);
          const recomputed = ((before.revenue - half) * 20n) / 100n;
          assert.ok(recomputed < capMicros, 'the refund takes the recomputed accrual below the cap');
          assert.equal(
            after.accrued,
            policy === 'ignore' ? capMicros : recomputed,
            `${policy}: the accrual after the refund`,
          );
          const again = await postRefund(
            store,
            { refundId: 'rf1', requestId: 'r10', amountMicros: half, atMs: at },
            setup,
          );
          assert.ok(again.ok && again.duplicate, 'a retried refund is a no-op');
          const reused = await postRefund(
            store,
            { refundId: 'rf1', requestId: 'r10', amountMicros: half + 1n, atMs: at },
            setup,
          );
          assert.equal(!reused.ok && reused.code, 'refund_id_reused');
          const over = await postRefund(
            store,
            { refundId: 'rf2', requestId: 'r10', amountMicros: revenue0 - half + 1n, atMs: at },
            setup,
          );
          assert.equal(!over.ok && over.code, 'refund_exceeds_revenue');
          assert.ok(
            (
              await postRefund(
                store,
                { refundId: 'rf3', requestId: 'r10', amountMicros: revenue0 - half, atMs: at },
                setup,
              )
            ).ok,
          );
          const unknown = await postRefund(
            store,
            { refundId: 'rf4', requestId: 'nope', amountMicros: 1n, atMs: at },
            setup,
          );
          assert.equal(!unknown.ok && unknown.code, 'unknown_request');
          const final = await ledgerOf(store);
          assert.equal(final.revenue, before.revenue - revenue0, 'refunded in full, never more');
          assert.ok(final.accrued <= capMicros);
        } finally {
          await store.close();
        }
      }
    });

    test('term: revenue outside the term accrues nothing; late revenue inside it still accrues, in the open period', async () => {
      const agreement = agreementWith('1/10', null, '2026-03-01T00:00:00Z', '2026-03-02T00:00:00Z');
      const setup: LedgerSetup = { priceBooks: books, agreement, owner: 'op' };
      const store = await b.open();
      try {
        const inside = usage(1, { startedAtMs: Date.parse('2026-03-01T05:00:00Z') });
        const outside = usage(2, { startedAtMs: Date.parse('2026-03-02T00:00:00Z') }); // the end is exclusive
        await postUsage(store, [inside, outside], setup);
        const l1 = await ledgerOf(store);
        const rev1 = revenuePicoOf(priceOf(books, 'm', '1', inside.startedAtMs)!.entry, inside);
        assert.equal(l1.accrued, rev1 / 10_000_000n, 'a tenth of the exact revenue, floored once');
        // March closes; a late record dated inside the term arrives in April.
        const march = await buildStatement(store, '2026-03');
        assert.equal(await store.closePeriod('2026-03', systemClock.now()), true);
        assert.equal(await store.closePeriod('2026-03', systemClock.now()), false);
        const late = usage(3, { tenantId: 'globex', startedAtMs: Date.parse('2026-03-01T20:00:00Z') });
        await postUsage(store, [late], setup);
        const l2 = await ledgerOf(store);
        const rev3 = revenuePicoOf(priceOf(books, 'm', '1', late.startedAtMs)!.entry, late);
        assert.equal(l2.accrued, (rev1 + rev3) / 10_000_000n, 'late in-term revenue accrues');
        const after = await buildStatement(store, '2026-03');
        assert.deepEqual(after, { ...march, closed: true }, 'a closed statement never changes');
        const april = await buildStatement(store, '2026-04');
        const lateRows = april.accounts
          .flatMap((x) => x.entries)
          .filter((e) => e.causeId === 'r3' || e.txId === 'revenue:r3');
        assert.ok(lateRows.length >= 2, 'the late revenue and its accrual land in the open period');
        const recv = april.accounts.find((x) => x.account === 'receivable:globex')!;
        const marchRecv = march.accounts.find((x) => x.account === 'receivable:globex')!;
        assert.equal(recv.openingMicros, marchRecv.closingMicros, 'opening = previous closing');
        // globex's receivable is its exact revenue, booked once: floor(Σ pico / 10⁶).
        const rev2 = revenuePicoOf(priceOf(books, 'm', '1', outside.startedAtMs)!.entry, outside);
        assert.equal(inside.tenantId, 'globex');
        assert.equal(recv.closingMicros, (rev1 + rev2 + rev3) / 1_000_000n);
        assert.match(
          statementCsv(april),
          /^period,account,kind,tx_id,code,effective_at,cause_id,amount\n2026-04,/,
        );
      } finally {
        await store.close();
      }
    });
  });
}

after(() => Promise.all(all.map((b) => b.cleanup())));
