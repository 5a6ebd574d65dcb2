// The ledger asserts its invariants at run time: a plan that does not balance, or an accrual
// outside 0..cap, throws a coded error before anything is committed; reading a statement checks
// the stored transactions again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EntenteError } from '../src/errors/index.js';
import { assertAccrualWithinCap, assertBalanced, buildStatement, planPostings } from '../src/ledger/index.js';
import type { LedgerRow, Store } from '../src/store/index.js';
import { usageRecord } from './helpers/records.js';

const violated = (err: unknown) => err instanceof EntenteError && err.code === 'ledger_invariant_violated';

test('a transaction whose entries do not sum to zero is refused, whatever the amounts', () => {
  assert.doesNotThrow(() =>
    assertBalanced([{ txId: 't', entries: [{ amountMicros: 5n }, { amountMicros: -5n }] }]),
  );
  for (const entries of [
    [{ amountMicros: 1n }],
    [{ amountMicros: 5n }, { amountMicros: -4n }],
    [{ amountMicros: -1n }],
  ])
    assert.throws(() => assertBalanced([{ txId: 't', entries }]), violated);
});

test('an accrual below zero or above the cap is refused; uncapped terms only need to be non-negative', () => {
  assert.doesNotThrow(() => assertAccrualWithinCap('s', 0n, 10n));
  assert.doesNotThrow(() => assertAccrualWithinCap('s', 10n, 10n));
  assert.doesNotThrow(() => assertAccrualWithinCap('s', 10n ** 20n, null));
  for (const [accrued, cap] of [
    [-1n, 10n],
    [11n, 10n],
    [-1n, null],
  ] as const)
    assert.throws(() => assertAccrualWithinCap('s', accrued, cap), violated);
});

const usage = (i: number) => usageRecord(`req_${i}`, { startedAtMs: Date.UTC(2026, 5, 1) + i });

test('planPostings checks its own plan: caps hold and every transaction balances', () => {
  const term = {
    id: 'a/s@v1',
    share: 'a/s',
    segments: ['a/s@v1'],
    payer: 'openai',
    payee: 'microsoft',
    num: 1n,
    den: 2n,
    capMicros: 7n,
  };
  const inputs = Array.from({ length: 20 }, (_, i) => ({
    usage: usage(i),
    revenuePico: BigInt(i + 1) * 1_000_000n,
    currency: 'USD',
    seller: 'openai',
    terms: [term],
  }));
  const { txs, states } = planPostings(inputs, new Map(), new Map(), new Set());
  assert.equal(states.get('a/s@v1')!.accruedMicros, 7n);
  assert.doesNotThrow(() => assertBalanced(txs));
  // A state that arrives already past the cap (a corrupted row) cannot be carried forward.
  assert.throws(
    () =>
      planPostings(
        [{ ...inputs[0]!, usage: usage(99), revenuePico: 1n }],
        new Map(),
        new Map([['a/s@v1', { revenueMicros: 100n, accruedMicros: 9n, remainderPico: 0n }]]),
        new Set(),
      ),
    violated,
  );
});

test('reading a statement checks the stored transactions again', async () => {
  const row = (txId: string, account: string, amountMicros: bigint): LedgerRow =>
    ({
      txId,
      code: 'revenue',
      effectiveAtMs: 0,
      recordedAtMs: 0,
      period: '2026-06',
      causeId: null,
      currency: 'USD',
      account,
      amountMicros,
    }) as LedgerRow;
  const storeWith = (rows: LedgerRow[]) =>
    ({
      ledgerRows: async (q?: { period?: string }) => (q?.period ? rows : []),
      closedPeriods: async () => new Set<string>(),
    }) as unknown as Store;
  const good = [row('t1', 'receivable:t', 5n), row('t1', 'revenue:o', -5n)];
  const s = await buildStatement(storeWith(good), '2026-06');
  assert.equal(s.accounts.length, 2);
  const tampered = [row('t1', 'receivable:t', 5n), row('t1', 'revenue:o', -4n)];
  await assert.rejects(buildStatement(storeWith(tampered), '2026-06'), violated);
});
