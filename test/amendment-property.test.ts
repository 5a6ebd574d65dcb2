// Property: over random amendment histories (a share's rate, cap and term changed at random
// instants, the share dropped and restored, random usage around the changes, posted in random
// batches with duplicates), the ledger's accrual matches an independent per-segment computation
// written here: each version's revenue accrues at that version's rate, the cap is total across
// versions, and no posting's accrual is negative or takes the share past the cap then in force.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type Agreement, parseAgreementText } from '../src/agreements/index.js';
import {
  type AccrualState,
  type LedgerSetup,
  type PostingInput,
  parsePriceBooks,
  planPostings,
  shareTermsFor,
} from '../src/ledger/index.js';
import { usageRecord } from './helpers/records.js';

const DAY = 86_400_000;
const START = Date.UTC(2026, 0, 1);
const iso = (ms: number) => new Date(ms).toISOString();
const books = parsePriceBooks(
  'currency: USD\nbooks:\n  - { id: b, effectiveFrom: 2025-01-01T00:00:00Z, prices: [{ model: m, inputUncached: "1", inputCached: "1", output: "1" }] }\n',
  'p.yaml',
);

interface VersionSpec {
  readonly fromDay: number;
  /** null: this version has no such share (an amendment removed it). */
  readonly share: {
    readonly num: number;
    readonly den: number;
    readonly capMicros: number | null;
    readonly termFromDay: number;
    readonly termToDay: number | null;
  } | null;
}

function agreementOf(versions: readonly VersionSpec[]): Agreement {
  const body = versions
    .map((v, i) => {
      const s = v.share;
      const share = s
        ? `      revenueShares:
        - id: share
          payer: op
          payee: partner
          rate: "${s.num}/${s.den}"
          revenueBase: { seller: op }
          term: { from: ${iso(START + s.termFromDay * DAY)}${s.termToDay === null ? '' : `, to: ${iso(START + s.termToDay * DAY)}`} }
${s.capMicros === null ? '' : `          cap: { amount: "${Math.floor(s.capMicros / 1e6)}.${String(s.capMicros % 1e6).padStart(6, '0')}", currency: USD }\n`}          milestoneIndependent: true
`
        : '';
      return `  - id: v${i}
    kind: ${i === 0 ? 'original' : 'amendment'}
    validFrom: ${iso(START + v.fromDay * DAY)}
    recordedAt: ${iso(START + v.fromDay * DAY)}
    terms:
      scope: { models: ["*"] }
      cloud: { primary: azure }
${share}`;
    })
    .join('');
  return parseAgreementText(
    `id: deal\ntitle: t\nparties: [{ id: op, name: Op }, { id: partner, name: Partner }]\nversions:\n${body}`,
    'deal.yaml',
  );
}

/** The computation the ledger must agree with, from the version list alone. */
function independent(versions: readonly VersionSpec[], postings: readonly { atMs: number; pico: bigint }[]) {
  const rev = new Map<number, bigint>();
  const acc = new Map<number, bigint>();
  let total = 0n;
  const deltas: bigint[] = [];
  for (const p of postings) {
    let k = -1;
    versions.forEach((v, i) => {
      if (START + v.fromDay * DAY <= p.atMs) k = i;
    });
    const s = k >= 0 ? versions[k]!.share : null;
    const inTerm =
      s !== null &&
      START + s.termFromDay * DAY <= p.atMs &&
      (s.termToDay === null || p.atMs < START + s.termToDay * DAY);
    if (!s || !inTerm) continue;
    const r = (rev.get(k) ?? 0n) + p.pico;
    rev.set(k, r);
    const due = (r * BigInt(s.num)) / (BigInt(s.den) * 1_000_000n);
    const want = due - (acc.get(k) ?? 0n);
    const room = s.capMicros === null ? want : BigInt(s.capMicros) - total;
    const d = want < room ? want : room < 0n ? 0n : room;
    acc.set(k, (acc.get(k) ?? 0n) + d);
    total += d;
    deltas.push(d);
  }
  return { acc, total, deltas };
}

const share = fc.record({
  num: fc.integer({ min: 0, max: 40 }),
  den: fc.constantFrom(40, 100, 1000),
  capMicros: fc.option(fc.integer({ min: 1, max: 3_000_000 }), { nil: null }),
  termFromDay: fc.integer({ min: 0, max: 200 }),
  termToDay: fc.option(fc.integer({ min: 201, max: 500 }), { nil: null }),
});
const history = fc
  .array(
    fc.record({ gapDays: fc.integer({ min: 1, max: 120 }), share: fc.option(share, { nil: null, freq: 5 }) }),
    {
      minLength: 1,
      maxLength: 4,
    },
  )
  .map((vs) => {
    let day = 0;
    return vs.map((v, i) => {
      if (i > 0) day += v.gapDays;
      return { fromDay: day, share: v.share };
    });
  });
const usage = fc.array(
  fc.record({
    day: fc.integer({ min: -10, max: 520 }),
    ms: fc.integer({ min: 0, max: DAY - 1 }),
    pico: fc.bigInt({ min: 0n, max: 3_000_000_000n }),
    tenant: fc.constantFrom('acme', 'globex'),
  }),
  { minLength: 1, maxLength: 60 },
);

test('property: random amendment histories accrue per segment, never negative, never past the cap in force', () => {
  fc.assert(
    fc.property(
      history,
      usage,
      fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 6 }),
      (versions, uses, batchSizes) => {
        const agreement = agreementOf(versions);
        const setup: LedgerSetup = { priceBooks: books, agreement, owner: 'op' };
        const inputs: PostingInput[] = uses.map((u, i) => {
          const rec = usageRecord(`r${i}`, {
            model: 'm',
            tenantId: u.tenant,
            startedAtMs: START + u.day * DAY + u.ms,
          });
          return {
            usage: rec,
            revenuePico: u.pico,
            currency: 'USD',
            seller: 'op',
            terms: shareTermsFor(setup, rec, 'USD'),
          };
        });
        // Posted in random batches, each batch delivered twice (a retry), as the store would see it.
        let states: Map<string, AccrualState> = new Map();
        const existing = new Map<string, string>();
        const accrualDeltas: bigint[] = [];
        for (let i = 0, k = 0; i < inputs.length; k++) {
          const batch = inputs.slice(i, i + batchSizes[k % batchSizes.length]!);
          for (const attempt of [batch, batch]) {
            const plan = planPostings(attempt, existing, states, new Set());
            states = plan.states;
            for (const tx of plan.txs) {
              if (tx.code === 'revenue') existing.set(tx.txId, tx.payloadHash);
              for (const e of tx.entries)
                if (e.account.startsWith('revshare-expense')) accrualDeltas.push(e.amountMicros);
            }
          }
          i += batch.length;
        }
        const want = independent(
          versions,
          uses.map((u) => ({ atMs: START + u.day * DAY + u.ms, pico: u.pico })),
        );
        versions.forEach((_, k) => {
          assert.equal(
            states.get(`deal/share@v${k}`)?.accruedMicros ?? 0n,
            want.acc.get(k) ?? 0n,
            `segment v${k}`,
          );
          const cap = versions[k]!.share?.capMicros;
          if (cap !== null && cap !== undefined)
            assert.ok(
              (states.get(`deal/share@v${k}`)?.accruedMicros ?? 0n) <= BigInt(cap),
              'a segment never holds more than its cap',
            );
        });
        assert.ok(want.deltas.every((d) => d >= 0n));
        assert.ok(
          accrualDeltas.every((d) => d > 0n),
          'no usage posting has a negative accrual',
        );
        assert.equal(
          accrualDeltas.reduce((a, d) => a + d, 0n),
          want.total,
          'the postings sum to the total',
        );
        // With no cap anywhere, the result is independent of the order: each segment is exactly
        // floor(rate × its revenue), whatever came first.
        if (versions.every((v) => v.share?.capMicros == null)) {
          const reversed = planPostings([...inputs].reverse(), new Map(), new Map(), new Set()).states;
          for (let k = 0; k < versions.length; k++)
            assert.equal(reversed.get(`deal/share@v${k}`)?.accruedMicros ?? 0n, want.acc.get(k) ?? 0n);
        }
      },
    ),
    { numRuns: 300 },
  );
});
