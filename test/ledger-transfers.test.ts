// The ledger's storage: each transaction is one transfer row holding both legs (src/store/transfer.ts),
// on both stores. Shapes that are not one transfer are refused by the code and by the database;
// a database written with the entries table of the previous schema upgrades with every leg kept,
// and one holding a transaction that is not a transfer refuses the upgrade and stays as it was.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { parseAgreementText } from '../src/agreements/index.js';
import { EntenteError } from '../src/errors/index.js';
import {
  parsePriceBooks,
  postRefund,
  postUsage,
  prepareUsage,
  revenuePayload,
  revenuePayloadHash,
  rowPayload,
} from '../src/ledger/index.js';
import {
  POSTGRES_SCHEMA_VERSION,
  SQLITE_SCHEMA_VERSION,
  type Store,
  type StoredTx,
  transferOf,
} from '../src/store/index.js';
import { backends, raw } from './helpers/backends.js';
import { WORKER_AGREEMENT, WORKER_PRICES } from './helpers/ledger-worker.js';
import { usageRecord } from './helpers/records.js';

/** The shared universe's price book and capped share (test/helpers/ledger-worker.ts). */
const setup = {
  priceBooks: parsePriceBooks(WORKER_PRICES, 'p.yaml'),
  agreement: parseAgreementText(WORKER_AGREEMENT, 'a.yaml'),
  owner: 'op',
};

const tx = (entries: StoredTx['entries']): StoredTx => ({
  txId: 'revenue:r',
  code: 'revenue',
  payloadHash: 'h',
  effectiveAtMs: 0,
  period: '2026-05',
  causeId: 'r',
  currency: 'USD',
  entries,
});
const leg = (account: string, amountMicros: bigint) => ({ account, amountMicros });

describe('transferOf', () => {
  test('two opposite legs are one transfer, debit first, whatever their order', () => {
    assert.deepEqual(transferOf(tx([leg('receivable:t', 5n), leg('revenue:op', -5n)])), {
      debit: 'receivable:t',
      credit: 'revenue:op',
      amountMicros: 5n,
    });
    // A refund's legs come credit first: the transfer is the same shape, reversed.
    assert.deepEqual(transferOf(tx([leg('receivable:t', -7n), leg('revenue:op', 7n)])), {
      debit: 'revenue:op',
      credit: 'receivable:t',
      amountMicros: 7n,
    });
    assert.deepEqual(transferOf(tx([])), { debit: null, credit: null, amountMicros: 0n });
  });

  test('every other shape is refused before anything is written', () => {
    const hostile: [string, StoredTx['entries']][] = [
      ['one leg', [leg('a', 5n)]],
      ['three legs', [leg('a', 5n), leg('b', -3n), leg('c', -2n)]],
      ['unbalanced', [leg('a', 5n), leg('b', -4n)]],
      ['same sign', [leg('a', 5n), leg('b', 5n)]],
      ['zero legs', [leg('a', 0n), leg('b', 0n)]],
      ['one account', [leg('a', 5n), leg('a', -5n)]],
      ['four legs that balance', [leg('a', 5n), leg('b', -5n), leg('c', 1n), leg('d', -1n)]],
    ];
    for (const [name, entries] of hostile) {
      assert.throws(
        () => transferOf(tx(entries)),
        (e: unknown) => e instanceof EntenteError && e.code === 'ledger_invariant_violated',
        name,
      );
    }
  });

  test('both stores have the same schema version', () => {
    assert.equal(SQLITE_SCHEMA_VERSION, POSTGRES_SCHEMA_VERSION);
  });
});

/** The ledger of the previous schema: transactions, and their entries in a table of their own. */
const OLD_LEDGER = [
  `INSERT INTO ledger_transactions (tx_id, code, payload_hash, effective_at_ms, period, cause_id, currency, recorded_at_ms, capacity) VALUES
    ('revenue:r1', 'revenue', 'h1', 1777593600000, '2026-05', 'r1', 'USD', 1777593601000, 'pool-a'),
    ('revenue:r2', 'revenue', 'h2', 1777593600500, '2026-05', 'r2', 'USD', 1777593601000, NULL),
    ('accrual:a/s@v1:r1', 'accrual', 'h3', 1777593600000, '2026-05', 'revenue:r1', 'USD', 1777593601000, NULL),
    ('refund:x1', 'refund', 'h4', 1777680000000, '2026-05', 'revenue:r1', 'USD', 1777680001000, NULL),
    ('refund:x1:accrual:a/s@v1', 'accrual', 'h5', 1777680000000, '2026-05', 'refund:x1', 'USD', 1777680001000, NULL),
    ('capacity:pool-a:2026-05', 'capacity', 'h6', 1777593600000, '2026-05', NULL, 'USD', 1777593601000, 'pool-a')`,
  `INSERT INTO ledger_entries (tx_id, idx, account, amount_micros, period) VALUES
    ('revenue:r1', 0, 'receivable:t1', 1500, '2026-05'), ('revenue:r1', 1, 'revenue:op', -1500, '2026-05'),
    ('accrual:a/s@v1:r1', 0, 'revshare-expense:op:a/s', 500, '2026-05'), ('accrual:a/s@v1:r1', 1, 'revshare-payable:ms:a/s', -500, '2026-05'),
    ('refund:x1', 0, 'receivable:t1', -300, '2026-05'), ('refund:x1', 1, 'revenue:op', 300, '2026-05'),
    ('refund:x1:accrual:a/s@v1', 0, 'revshare-expense:op:a/s', -100, '2026-05'), ('refund:x1:accrual:a/s@v1', 1, 'revshare-payable:ms:a/s', 100, '2026-05'),
    ('capacity:pool-a:2026-05', 0, 'capacity-expense:pool-a', 9000, '2026-05'), ('capacity:pool-a:2026-05', 1, 'capacity-payable:pool-a', -9000, '2026-05')`,
];

/** Every leg with its transaction's facts, in one order, as comparable text. */
const OLD_LEGS = `SELECT t.tx_id, t.code, t.effective_at_ms, t.recorded_at_ms, e.period, t.cause_id, t.currency, t.capacity, e.account, e.amount_micros
  FROM ledger_entries e JOIN ledger_transactions t ON t.tx_id = e.tx_id`;
const text = (rows: readonly Record<string, unknown>[]) =>
  rows
    .map((r) =>
      [
        r.tx_id ?? r.txId,
        r.code,
        r.effective_at_ms ?? r.effectiveAtMs,
        r.recorded_at_ms ?? r.recordedAtMs,
        r.period,
        r.cause_id ?? r.causeId,
        r.currency,
        r.capacity,
        r.account,
        r.amount_micros ?? r.amountMicros,
      ].join('|'),
    )
    .sort();

for (const b of backends('transfers')) {
  describe(`ledger transfers: ${b.name}`, { skip: b.skip }, () => {
    after(() => b.cleanup());
    // The last version whose ledger kept entries in a table of their own (then: transfers, then
    // revenue kept in usage records, then the API keys' version, then their change log).
    const previous = SQLITE_SCHEMA_VERSION - 4;

    /** A fresh store and a raw connection to its database, both closed after `fn`. */
    const withRaw = async (fn: (store: Store, db: Awaited<ReturnType<typeof raw>>) => Promise<void>) => {
      const store = await b.open();
      const db = await raw(store);
      try {
        await fn(store, db);
      } finally {
        await db.close();
        await store.close();
      }
    };

    test('a ledger of the previous schema upgrades with every leg and every fact kept', async () => {
      const store = await b.open({ toVersion: previous });
      const db = await raw(store);
      try {
        for (const sql of OLD_LEDGER) await db.exec(sql);
        // r1 was stored and posted; r3 stored, not yet posted; r2 posted but never stored.
        await db.exec(
          `INSERT INTO usage_records (request_id, tenant_id, key_id, model, stream, status, usage_exact, attempts, tokens_input_uncached, tokens_input_cached, tokens_output, tokens_reasoning, started_at_ms, latency_ms, overhead_us, seq, ledger_status)
           VALUES ('r1', 't1', 'k', 'm', 0, 200, 1, 1, 100, 0, 50, 0, 1777593600000, 1, 1, 1, 1),
                  ('r3', 't1', 'k', 'm', 0, 200, 1, 1, 10, 0, 5, 0, 1777593602000, 1, 1, 2, 0)`,
        );
        const before = text((await db.exec(OLD_LEGS)) as Record<string, unknown>[]);
        assert.equal(before.length, 10);
        await store.migrate();
        const rows = await store.ledgerRows();
        assert.deepEqual(text(rows as unknown as Record<string, unknown>[]), before);
        // The entries view unfolds the same legs for SQL readers.
        const view = await db.exec('SELECT tx_id, account, amount_micros FROM ledger_entries');
        assert.equal(view.length, 10);
        // r1's revenue moved into its record's row; r2, never stored, keeps its transaction apart
        // (with no legs: a zero revenue is still a transaction, so a retry is a duplicate).
        assert.deepEqual(
          (await db.exec("SELECT tx_id FROM ledger_transactions WHERE code = 'revenue'")).map((r) =>
            String((r as { tx_id: string }).tx_id),
          ),
          ['revenue:r2'],
        );
        const kept = (await db.exec(
          "SELECT revenue_hash, revenue_debit, revenue_micros FROM usage_records WHERE request_id = 'r1'",
        )) as { revenue_hash: string; revenue_debit: string; revenue_micros: unknown }[];
        assert.deepEqual(
          [kept[0]!.revenue_hash, kept[0]!.revenue_debit, Number(kept[0]!.revenue_micros)],
          ['h1', 'receivable:t1', 1500],
        );
        // Once kept, it never changes.
        await assert.rejects(
          db.exec("UPDATE usage_records SET revenue_micros = 1 WHERE request_id = 'r1'"),
          /never changes/,
        );
        // A pending record left by the old schema is still found by the pending scan.
        assert.deepEqual(
          (await store.pendingUsage(10)).map((u) => u.requestId),
          ['r3'],
        );
        // Statements by account read the legs through the new indexes.
        const t1 = await store.ledgerRows({ account: 'receivable:t1', period: '2026-05' });
        assert.deepEqual(
          t1.map((r) => r.amountMicros),
          [1500n, -300n],
        );
        // A refund of r1 sees what is left of its revenue, kept in the record's row.
        const over = await postRefund(
          store,
          { refundId: 'x2', requestId: 'r1', amountMicros: 1201n, atMs: Date.parse('2026-05-20T00:00:00Z') },
          setup,
        );
        assert.equal(over.ok ? 'ok' : over.code, 'refund_exceeds_revenue');
        const exact = await postRefund(
          store,
          { refundId: 'x2', requestId: 'r1', amountMicros: 1200n, atMs: Date.parse('2026-05-20T00:00:00Z') },
          setup,
        );
        assert.equal(exact.ok, true);
      } finally {
        await db.close();
        await store.close();
      }
    });

    test('the upgraded store posts new usage, balanced, beside the migrated legs', async () => {
      const store = await b.open({ toVersion: previous });
      const db = await raw(store);
      try {
        for (const sql of OLD_LEDGER) await db.exec(sql);
        await store.migrate();
        const r = usageRecord('req_new', { tenantId: 't1', startedAtMs: Date.parse('2026-05-03T00:00:00Z') });
        const result = await postUsage(store, [r], setup, { storeRecords: true });
        assert.equal(result.posted, 1);
        const legs = (await store.ledgerRows()).filter((x) => x.txId === 'revenue:req_new');
        assert.equal(legs.length, 2);
        assert.equal(legs[0]!.amountMicros + legs[1]!.amountMicros, 0n);
        assert.ok(legs[0]!.amountMicros > 0n);
        // Posting it again is a duplicate, found through the one row.
        assert.equal((await postUsage(store, [r], setup)).duplicate, 1);
      } finally {
        await db.close();
        await store.close();
      }
    });

    test('the writer path stores each record once: repeated in its batch, or stored earlier', async () => {
      const store = await b.open();
      try {
        const at = Date.parse('2026-05-03T00:00:00Z');
        const early = usageRecord('req_early', { tenantId: 't1', startedAtMs: at });
        await store.appendUsage([early]); // stored, still pending
        const a = usageRecord('req_a', { tenantId: 't1', startedAtMs: at + 1 });
        const c = usageRecord('req_c', { tenantId: 't2', startedAtMs: at + 2 });
        const batch = [a, early, a, c];
        assert.deepEqual(await postUsage(store, batch, setup, { storeRecords: true }), {
          posted: 3,
          duplicate: 1,
          conflict: 0,
          unpriced: 0,
        });
        assert.equal(await store.countUsage(), 3);
        assert.deepEqual(await store.pendingUsage(10), []);
        const legs = (id: string) => store.ledgerRows().then((rows) => rows.filter((x) => x.txId === id));
        for (const id of ['req_a', 'req_c', 'req_early'])
          assert.equal((await legs(`revenue:${id}`)).length, 2, id);
        // Delivered again whole (a spool recovered after a crash): nothing new, nothing twice.
        const again = await postUsage(store, batch, setup, { storeRecords: true });
        assert.deepEqual([again.posted, again.duplicate], [0, 4]);
        assert.equal(await store.countUsage(), 3);
        assert.equal((await legs('revenue:req_a')).length, 2);
      } finally {
        await store.close();
      }
    });

    test("a revenue posted before its record was stored is not posted again when the record comes; an earlier build's digest of a payload still matches it", () =>
      withRaw(async (store, db) => {
        const at = Date.parse('2026-05-03T00:00:00Z');
        const r = usageRecord('req_apart', { tenantId: 't1', startedAtMs: at });
        const s = usageRecord('req_new', { tenantId: 't1', startedAtMs: at + 1 });
        // Posted, never stored (posted from elsewhere): its revenue is kept apart, as its payload.
        assert.equal((await postUsage(store, [r], setup)).posted, 1);
        const input = prepareUsage([r], setup).inputs[0]!;
        const kept = async () =>
          (
            (await db.exec(
              "SELECT payload_hash FROM ledger_transactions WHERE tx_id = 'revenue:req_apart'",
            )) as {
              payload_hash: string;
            }[]
          ).map((x) => x.payload_hash);
        assert.deepEqual(await kept(), [revenuePayload(input)]);
        assert.match(revenuePayload(input), /^req_apart\|t1\|/);
        // As builds before December 2026 kept it: the payload's SHA-256, in hex.
        await db.exec(
          `UPDATE ledger_transactions SET payload_hash = '${revenuePayloadHash(input)}' WHERE tx_id = 'revenue:req_apart'`,
        );
        assert.match((await kept())[0]!, /^[0-9a-f]{64}$/);
        // The spool writer brings the record with a new one: the first is a duplicate, the
        // second posted; the revenue is not written a second time into the record's row.
        assert.deepEqual(await postUsage(store, [r, s], setup, { storeRecords: true }), {
          posted: 1,
          duplicate: 1,
          conflict: 0,
          unpriced: 0,
        });
        assert.equal(await store.countUsage(), 2);
        const legs = (id: string) => store.ledgerRows().then((rows) => rows.filter((x) => x.txId === id));
        assert.equal((await legs('revenue:req_apart')).length, 2);
        assert.equal((await legs('revenue:req_new')).length, 2);
        // The same ids with other tokens: conflicts, against the digest as against a payload.
        const other = (u: typeof r) => ({ ...u, tokensOutput: u.tokensOutput + 1 });
        assert.equal((await postUsage(store, [other(r)], setup)).conflict, 1);
        assert.equal((await postUsage(store, [other(s)], setup, { storeRecords: true })).conflict, 1);
        assert.deepEqual(
          [
            (await legs('revenue:req_apart')).length,
            (await legs('revenue:req_new')).length,
            await store.countUsage(),
          ],
          [2, 2, 2],
        );
      }));

    test('a record stored with its posting keeps only what is not its own as its revenue payload, read back whole; such a payload is never kept apart', () =>
      withRaw(async (store, db) => {
        const at = Date.parse('2026-05-04T00:00:00Z');
        const plainRec = usageRecord('req_row', { tenantId: 't1', startedAtMs: at, tokensReasoning: 3 });
        const pooled = usageRecord('req_pool', { tenantId: 't2', startedAtMs: at + 1, capacity: 'ptu-1' });
        assert.equal((await postUsage(store, [plainRec, pooled], setup, { storeRecords: true })).posted, 2);
        const inputs = prepareUsage([plainRec, pooled], setup).inputs;
        const rows = (await db.exec(
          "SELECT request_id, revenue_hash FROM usage_records WHERE request_id IN ('req_row', 'req_pool') ORDER BY request_id",
        )) as { request_id: string; revenue_hash: string }[];
        // SQLite inserts a batch presumed new (every record inserted as it is): the row's part
        // only. PostgreSQL looks up what is stored first, and keeps the whole payload.
        const kept = store.kind === 'sqlite' ? rowPayload : revenuePayload;
        assert.deepEqual(
          rows.map((r) => r.revenue_hash),
          [kept(inputs[1]!), kept(inputs[0]!)],
        );
        if (store.kind === 'sqlite') assert.match(rows[0]!.revenue_hash, /^=\d+\|USD\|op\|ptu-1$/);
        // A record stored before (pending) and delivered again: its revenue goes into the row
        // stored earlier, which may hold another record's fields, so its payload is kept whole.
        const early = usageRecord('req_early_row', { tenantId: 't1', startedAtMs: at + 3 });
        await store.appendUsage([early]);
        const fresh = usageRecord('req_fresh_row', { tenantId: 't1', startedAtMs: at + 4 });
        assert.equal((await postUsage(store, [early, fresh], setup, { storeRecords: true })).posted, 2);
        const both = (await db.exec(
          "SELECT revenue_hash FROM usage_records WHERE request_id IN ('req_early_row', 'req_fresh_row') ORDER BY request_id",
        )) as { revenue_hash: string }[];
        const twoInputs = prepareUsage([early, fresh], setup).inputs;
        assert.deepEqual(
          both.map((r) => r.revenue_hash),
          [revenuePayload(twoInputs[0]!), revenuePayload(twoInputs[1]!)],
        );
        // Read back whole (the record's fields before it), a delivery again is a duplicate, by
        // the spool writer's path and by the pending scan's alike; one field changed, a conflict.
        for (const storeRecords of [true, false]) {
          const again = await postUsage(store, [plainRec, pooled], setup, { storeRecords });
          assert.deepEqual(
            [again.posted, again.duplicate, again.conflict],
            [0, 2, 0],
            `storeRecords ${storeRecords}`,
          );
        }
        for (const changed of [
          { ...plainRec, tokensReasoning: 4 },
          { ...plainRec, startedAtMs: at + 5 },
          { ...pooled, capacity: 'ptu-2' },
          { ...pooled, modelVersion: null },
        ])
          assert.equal((await postUsage(store, [changed], setup)).conflict, 1, JSON.stringify(changed));
        // A row's payload for a record that is not stored would lose the record's fields: refused.
        const lost = usageRecord('req_lost', { tenantId: 't1', startedAtMs: at + 9 });
        const input = prepareUsage([lost], setup, { storeRecords: true, rowPayloads: true }).inputs[0]!;
        assert.equal(input.payloadHash, rowPayload(input));
        await assert.rejects(
          store.postLedger([input.txId!], [], () => ({
            txs: [
              {
                txId: input.txId!,
                code: 'revenue',
                payloadHash: input.payloadHash!,
                effectiveAtMs: lost.startedAtMs,
                period: '2026-05',
                causeId: lost.requestId,
                currency: 'USD',
                entries: [],
              },
            ],
            states: new Map(),
            usageStatus: new Map(),
          })),
          (e: unknown) =>
            e instanceof EntenteError &&
            e.code === 'ledger_invariant_violated' &&
            /not kept apart/.test(e.message),
        );
      }));

    test('the writer path stores an unpriced record as unpriced, not pending, beside priced ones', () =>
      withRaw(async (store, db) => {
        const at = Date.parse('2026-05-05T00:00:00Z');
        const batch = [
          usageRecord('req_priced_1', { tenantId: 't1', startedAtMs: at }),
          usageRecord('req_unpriced', { tenantId: 't1', model: 'no-such-model', startedAtMs: at + 1 }),
          usageRecord('req_priced_2', { tenantId: 't2', startedAtMs: at + 2 }),
        ];
        assert.deepEqual(await postUsage(store, batch, setup, { storeRecords: true }), {
          posted: 2,
          duplicate: 0,
          conflict: 0,
          unpriced: 1,
        });
        assert.deepEqual(await store.pendingUsage(10), []);
        const statuses = (await db.exec(
          'SELECT request_id, ledger_status FROM usage_records ORDER BY request_id',
        )) as { request_id: string; ledger_status: unknown }[];
        assert.deepEqual(
          statuses.map((r) => [r.request_id, Number(r.ledger_status)]),
          [
            ['req_priced_1', 1],
            ['req_priced_2', 1],
            ['req_unpriced', 2],
          ],
        );
      }));

    test('a batch of new records that repeats one posts it once, as the batch without the repeat would', async () => {
      const store = await b.open();
      const alone = await b.open();
      try {
        const at = Date.parse('2026-05-06T00:00:00Z');
        const a = usageRecord('req_rep_a', { tenantId: 't1', startedAtMs: at, tokensOutput: 700 });
        const c = usageRecord('req_rep_c', { tenantId: 't2', startedAtMs: at + 1, tokensOutput: 900 });
        assert.deepEqual(await postUsage(store, [a, c, a], setup, { storeRecords: true }), {
          posted: 2,
          duplicate: 1,
          conflict: 0,
          unpriced: 0,
        });
        await postUsage(alone, [a, c], setup, { storeRecords: true });
        assert.equal(await store.countUsage(), 2);
        const balances = async (st: typeof store) => {
          const m = new Map<string, bigint>();
          for (const r of await st.ledgerRows()) m.set(r.account, (m.get(r.account) ?? 0n) + r.amountMicros);
          return [...m].sort(([x], [y]) => (x < y ? -1 : 1));
        };
        const got = await balances(store);
        assert.deepEqual(got, await balances(alone));
        // Something accrued: the comparison is of a ledger that holds the share, not of two empty ones.
        assert.ok(got.some(([account, v]) => account.startsWith('revshare-payable:') && v < 0n));
        assert.equal((await store.ledgerRows()).filter((x) => x.txId === 'revenue:req_rep_a').length, 2);
      } finally {
        await store.close();
        await alone.close();
      }
    });

    test('a revenue transaction is never written beside the one its record keeps', async () => {
      const store = await b.open();
      try {
        const r = usageRecord('req_once', {
          tenantId: 't1',
          startedAtMs: Date.parse('2026-05-03T00:00:00Z'),
        });
        await postUsage(store, [r], setup, { storeRecords: true });
        const before = await store.ledgerRows();
        // A plan that ignores what exists (a bug, or a view gone stale) posts the revenue again:
        // once through the record's insert, once as a record stored earlier.
        const again = {
          txId: 'revenue:req_once',
          code: 'revenue',
          payloadHash: 'other',
          effectiveAtMs: r.startedAtMs,
          period: '2026-05',
          causeId: 'req_once',
          currency: 'USD',
          entries: [leg('receivable:t1', 9n), leg('revenue:op', -9n)],
        };
        for (const insert of [[r], []]) {
          await assert.rejects(
            store.postLedger(
              [again.txId],
              [],
              () => ({ txs: [again], states: new Map(), usageStatus: new Map() }),
              [],
              insert,
            ),
            (e: unknown) => e instanceof EntenteError && e.code === 'ledger_invariant_violated',
          );
        }
        assert.deepEqual(await store.ledgerRows(), before);
      } finally {
        await store.close();
      }
    });

    const hostile: [string, string][] = [
      [
        'three legs',
        `INSERT INTO ledger_entries (tx_id, idx, account, amount_micros, period) VALUES
          ('bad', 0, 'a', 100, '2026-05'), ('bad', 1, 'b', -60, '2026-05'), ('bad', 2, 'c', -40, '2026-05')`,
      ],
      [
        'unbalanced',
        `INSERT INTO ledger_entries (tx_id, idx, account, amount_micros, period) VALUES
          ('bad', 0, 'a', 100, '2026-05'), ('bad', 1, 'b', -90, '2026-05')`,
      ],
      [
        'one leg',
        `INSERT INTO ledger_entries (tx_id, idx, account, amount_micros, period) VALUES ('bad', 0, 'a', 100, '2026-05')`,
      ],
    ];
    for (const [name, entries] of hostile) {
      test(`a ledger holding a transaction that is not a transfer (${name}) refuses the upgrade, unchanged`, async () => {
        const store = await b.open({ toVersion: previous });
        const db = await raw(store);
        try {
          for (const sql of OLD_LEDGER) await db.exec(sql);
          await db.exec(
            `INSERT INTO ledger_transactions (tx_id, code, payload_hash, effective_at_ms, period, cause_id, currency, recorded_at_ms) VALUES ('bad', 'accrual', 'h', 0, '2026-05', NULL, 'USD', 0)`,
          );
          await db.exec(entries);
          await assert.rejects(store.migrate());
          const version = (await db.exec('SELECT max(version) AS v FROM schema_migrations')) as {
            v: unknown;
          }[];
          assert.equal(Number(version[0]!.v), previous);
          assert.equal(
            (await db.exec(OLD_LEGS)).length,
            10 + (name === 'three legs' ? 3 : name === 'one leg' ? 1 : 2),
          );
        } finally {
          await db.close();
          await store.close();
        }
      });
    }

    test('the database itself refuses a row that is not one transfer', () =>
      withRaw(async (store, db) => {
        const insert = (id: string, debit: string | null, credit: string | null, amount: number) =>
          db.exec(
            `INSERT INTO ledger_transactions (tx_id, code, payload_hash, effective_at_ms, period, cause_id, currency, recorded_at_ms, debit_account, credit_account, amount_micros)
           VALUES ('${id}', 'accrual', 'h', 0, '2026-05', NULL, 'USD', 0, ${debit === null ? 'NULL' : `'${debit}'`}, ${credit === null ? 'NULL' : `'${credit}'`}, ${amount})`,
          );
        await insert('ok', 'a', 'b', 5);
        await insert('ok-none', null, null, 0);
        const refused: [string, string | null, string | null, number][] = [
          ['negative', 'a', 'b', -5],
          ['no credit', 'a', null, 5],
          ['no debit', null, 'b', 5],
          ['zero with accounts', 'a', 'b', 0],
          ['one account', 'a', 'a', 5],
        ];
        for (const [id, debit, credit, amount] of refused)
          await assert.rejects(insert(id, debit, credit, amount), /CHECK|check constraint/i, id);
        assert.equal((await store.ledgerRows()).length, 2);
      }));
  });
}
