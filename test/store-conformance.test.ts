// One conformance suite, run against every store: the embedded SQLite store always, PostgreSQL
// when it answers (required in CI, see scripts/run-tests.js).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { API_KEY_CHANGES_KEPT, type ApiKeyRecord, type Store, type UsageRecord } from '../src/store/index.js';
import { backends, raw, sqliteWithReadThread } from './helpers/backends.js';

function record(i: number, over: Partial<UsageRecord> = {}): UsageRecord {
  return {
    requestId: `req_${i.toString().padStart(6, '0')}`,
    tenantId: i % 2 ? 'acme' : 'globex',
    keyId: 'k1',
    model: 'gpt-4o',
    modelVersion: '2024-11-20',
    cloud: 'azure',
    region: 'eastus',
    upstreamId: 'azure-eastus',
    deployment: 'gpt-4o-prod',
    surface: (['chat', 'responses', 'embeddings'] as const)[i % 3]!,
    stream: i % 3 === 0,
    status: 200,
    errorCode: null,
    usageExact: true,
    attempts: 1,
    tokensInputUncached: 10 + i,
    tokensInputCached: i,
    tokensOutput: 2 * i,
    tokensReasoning: 0,
    startedAtMs: 1_790_000_000_000 + i,
    latencyMs: 12,
    overheadUs: 150,
    ...over,
  };
}

const all = [...backends('store'), sqliteWithReadThread('store-reads')];

/** An active key of tenant acme whose digest is its id's bytes (unique per id). */
const apiKey = (id: string): ApiKeyRecord => ({
  id,
  tenantId: 'acme',
  sha256: Buffer.from(id).toString('hex').padEnd(64, '0'),
  models: ['*'],
  createdAtMs: 1,
  revokedAtMs: null,
});

/** SQL the Store interface has no method for, in the store's own dialect; its first row's first value. */
async function rawSql(store: Store, sql: string | { sqlite: string; postgres: string }): Promise<unknown> {
  const db = await raw(store);
  try {
    const rows = await db.exec(typeof sql === 'string' ? sql : sql[store.location.kind]);
    return Object.values((rows[0] ?? {}) as object)[0];
  } finally {
    await db.close();
  }
}

for (const b of all) {
  describe(`store conformance: ${b.label ?? b.name}`, { skip: b.skip }, () => {
    let store: Store;
    before(async () => {
      store = await b.open();
    });
    after(async () => {
      await store?.close();
      await b.cleanup();
    });

    test('usage records round-trip field for field', async () => {
      const r = record(1, {
        errorCode: 'upstream_stream_error',
        usageExact: false,
        modelVersion: null,
        cloud: null,
        region: null,
        upstreamId: null,
        deployment: null,
      });
      await store.appendUsage([r, record(2)]);
      const [got] = await store.listUsage({ requestId: r.requestId });
      assert.deepEqual(got, r);
    });

    test('appends are idempotent by request id: a retried batch counts nothing twice', async () => {
      const before = await store.countUsage();
      const batch = [record(10), record(11), record(12)];
      await store.appendUsage(batch);
      await store.appendUsage(batch);
      await store.appendUsage([record(11, { tokensOutput: 999 })]);
      assert.equal((await store.countUsage()) - before, 3);
      const [r11] = await store.listUsage({ requestId: record(11).requestId });
      assert.equal(r11!.tokensOutput, 22, 'the first write wins');
    });

    test('listUsage: newest first, filtered by tenant, limited', async () => {
      await store.appendUsage([record(20), record(21), record(22), record(23)]);
      const rows = await store.listUsage({ tenantId: 'acme', limit: 2 });
      assert.deepEqual(
        rows.map((r) => r.requestId),
        ['req_000023', 'req_000021'],
      );
    });

    test('a large batch is written whole', async () => {
      const before = await store.countUsage();
      await store.appendUsage(Array.from({ length: 5000 }, (_, i) => record(100_000 + i)));
      assert.equal((await store.countUsage()) - before, 5000);
    });

    test('pendingUsage: the oldest pending records, as many as asked, whatever was asked before', async () => {
      // Thousands are pending here (appended, never posted); each limit asked twice, interleaved.
      const three = (await store.pendingUsage(3)).map((r) => r.requestId);
      const seven = (await store.pendingUsage(7)).map((r) => r.requestId);
      assert.equal(three.length, 3);
      assert.equal(seven.length, 7);
      assert.deepEqual(seven.slice(0, 3), three, 'in the order they were stored');
      assert.deepEqual(
        (await store.pendingUsage(3)).map((r) => r.requestId),
        three,
      );
      assert.deepEqual(
        (await store.pendingUsage(1)).map((r) => r.requestId),
        three.slice(0, 1),
      );
    });

    test('spendByScope: the booked receivable of requests started in the range, by tenant, key, model, cloud', async () => {
      const t = Date.UTC(2026, 11, 2, 10);
      const id = (ms: number, n: number) =>
        `req_${ms.toString(16).padStart(12, '0')}${n.toString(16).padStart(20, '0')}`;
      const recs = [
        record(0, { requestId: id(t, 1), tenantId: 'acme', keyId: 'ka', startedAtMs: t }),
        record(0, { requestId: id(t + 10, 2), tenantId: 'acme', keyId: 'ka', startedAtMs: t + 10 }),
        record(0, {
          requestId: id(t + 20, 3),
          tenantId: 'globex',
          keyId: 'kg',
          model: 'gpt-4o-mini',
          cloud: 'openai',
          startedAtMs: t + 20,
        }),
        // Outside the range, before and after; and one with no posting (unpriced): not spend.
        record(0, { requestId: id(t - 1, 4), tenantId: 'acme', keyId: 'ka', startedAtMs: t - 1 }),
        record(0, { requestId: id(t + 60_000, 5), tenantId: 'acme', keyId: 'ka', startedAtMs: t + 60_000 }),
        record(0, { requestId: id(t + 30, 6), tenantId: 'acme', keyId: 'ka', startedAtMs: t + 30 }),
      ];
      await store.appendUsage(recs);
      const posted = recs.filter((r) => !r.requestId.endsWith('6'));
      await store.postLedger(
        posted.map((r) => `revenue:${r.requestId}`),
        [],
        () => ({
          txs: posted.map((r, i) => ({
            txId: `revenue:${r.requestId}`,
            code: 'revenue',
            payloadHash: `h${i}`,
            effectiveAtMs: r.startedAtMs,
            period: '2026-12',
            causeId: null,
            currency: 'USD',
            entries: [
              { account: `receivable:${r.tenantId}`, amountMicros: BigInt(100 + i) },
              { account: 'revenue:openai', amountMicros: -BigInt(100 + i) },
            ],
          })),
          states: new Map(),
          usageStatus: new Map(),
        }),
      );
      const rows = (await store.spendByScope(t, t + 60_000)).sort((a, b) =>
        a.tenantId.localeCompare(b.tenantId),
      );
      assert.deepEqual(rows, [
        {
          tenantId: 'acme',
          keyId: 'ka',
          model: 'gpt-4o',
          cloud: 'azure',
          currency: 'USD',
          micros: 201n,
          requests: 2,
        },
        {
          tenantId: 'globex',
          keyId: 'kg',
          model: 'gpt-4o-mini',
          cloud: 'openai',
          currency: 'USD',
          micros: 102n,
          requests: 1,
        },
      ]);
      // Only some keys' spend: a page of keys, and ids no key has or that look like SQL.
      assert.deepEqual(
        (await store.spendByScope(t, t + 60_000, ['kg', 'k-none', "ka' OR '1'='1"])).map((r) => [
          r.keyId,
          r.micros,
        ]),
        [['kg', 102n]],
      );
      assert.deepEqual(await store.spendByScope(t, t + 60_000, []), []);
    });

    test('spendByScope: records stored in the unit of work that posts them count as records stored before it', async () => {
      const t = Date.UTC(2026, 11, 2, 11);
      const id = (n: number) => `req_inhand_${String(n).padStart(4, '0')}`;
      const recs = [
        record(0, { requestId: id(1), tenantId: 'acme', keyId: 'ka', startedAtMs: t }),
        record(0, {
          requestId: id(2),
          tenantId: 'globex',
          keyId: 'kg',
          model: 'gpt-4o-mini',
          cloud: 'openai',
          startedAtMs: t + 5,
        }),
        record(0, { requestId: id(3), tenantId: 'acme', keyId: 'ka', startedAtMs: t + 10 }),
        // Nothing booked (a sub-micro revenue): a transaction with no legs, no spend.
        record(0, { requestId: id(4), tenantId: 'acme', keyId: 'ka', startedAtMs: t + 20 }),
        // Not posted at all (unpriced): no spend.
        record(0, { requestId: id(5), tenantId: 'acme', keyId: 'ka', startedAtMs: t + 30 }),
      ];
      const storedBefore = await store.countUsage();
      const booked = [100n, 102n, 101n, 0n];
      const txs = booked.map((micros, i) => {
        const r = recs[i]!;
        return {
          txId: `revenue:${r.requestId}`,
          code: 'revenue',
          payloadHash: `h${i}`,
          effectiveAtMs: r.startedAtMs,
          period: '2026-12',
          causeId: r.requestId,
          currency: 'USD',
          entries:
            micros === 0n
              ? []
              : [
                  { account: `receivable:${r.tenantId}`, amountMicros: micros },
                  { account: 'revenue:openai', amountMicros: -micros },
                ],
        };
      });
      await store.postLedger(
        txs.map((x) => x.txId),
        [],
        () => ({
          txs,
          states: new Map(),
          usageStatus: new Map(recs.map((r, i) => [r.requestId, i < 4 ? 1 : 2])),
        }),
        [],
        recs,
      );
      assert.equal((await store.countUsage()) - storedBefore, 5);
      const rows = (await store.spendByScope(t, t + 60_000)).sort((a, b) =>
        a.tenantId.localeCompare(b.tenantId),
      );
      assert.deepEqual(
        rows.map((r) => [r.tenantId, r.keyId, r.model, r.cloud, r.micros, r.requests]),
        [
          ['acme', 'ka', 'gpt-4o', 'azure', 201n, 2],
          ['globex', 'kg', 'gpt-4o-mini', 'openai', 102n, 1],
        ],
      );
    });

    test('spendSummary: the total, and the largest groups of each dimension with their count', async () => {
      const t = Date.UTC(2026, 10, 3, 10);
      const db = await raw(store);
      const rows: [number, string, string, string, string, number, string][] = [
        [t, 'acme', 'ka', 'gpt-4o', 'azure', 2, '300'],
        [t + 60_000, 'acme', 'ka', 'gpt-4o-mini', '', 1, '50'],
        [t, 'acme', 'kb', 'gpt-4o', 'azure', 1, '100'],
        [t, 'globex', 'kg', 'gpt-4o-mini', 'openai', 1, '300'],
        [t, 'globex', 'kZ', 'gpt-4o-mini', 'openai', 1, '300'],
        // Past 2^53: the sums must be exact.
        [t, 'initech', 'kbig', 'gpt-4o', 'azure', 1, '9007199254740993'],
        // Outside the range, before and after.
        [t - 60_000, 'acme', 'ka', 'gpt-4o', 'azure', 5, '7'],
        [t + 120_000, 'acme', 'kb', 'gpt-4o', 'azure', 5, '7'],
      ];
      for (const [m, tenant, key, model, cloud, n, micros] of rows)
        await db.exec(
          `INSERT INTO usage_spend (minute_ms, tenant_id, key_id, model, cloud, currency, requests, micros)
           VALUES (${m}, '${tenant}', '${key}', '${model}', '${cloud}', 'USD', ${n}, ${micros})`,
        );
      await db.close();
      const big = 9007199254740993n;
      const g = (name: string, micros: bigint, requests: number) => ({ name, micros, requests });
      const s = await store.spendSummary(t, t + 120_000, { top: 3 });
      assert.equal(s.micros, big + 1050n);
      assert.equal(s.requests, 7);
      // Ties by name in byte order: 'kZ' before 'kg' (the order of a locale's collation, which a
      // PostgreSQL database may have, puts kg first).
      assert.deepEqual(s.by.key, { top: [g('kbig', big, 1), g('ka', 350n, 3), g('kZ', 300n, 1)], groups: 5 });
      assert.deepEqual(s.by.tenant, {
        top: [g('initech', big, 1), g('globex', 600n, 2), g('acme', 450n, 4)],
        groups: 3,
      });
      assert.deepEqual(s.by.model, {
        top: [g('gpt-4o', big + 400n, 4), g('gpt-4o-mini', 650n, 3)],
        groups: 2,
      });
      assert.deepEqual(s.by.cloud, {
        top: [g('azure', big + 400n, 4), g('openai', 600n, 2), g('(none)', 50n, 1)],
        groups: 3,
      });
      assert.deepEqual((await store.spendSummary(t, t + 120_000, { top: 1 })).by.key, {
        top: [g('kbig', big, 1)],
        groups: 5,
      });
      // Some keys only: ids no key has, or that look like SQL, match nothing.
      const some = await store.spendSummary(t, t + 120_000, {
        top: 100,
        keyIds: ['ka', 'kZ', 'k-none', "ka' OR '1'='1"],
      });
      assert.deepEqual(
        [some.micros, some.requests, some.by.key, some.by.tenant.top.map((x) => x.name)],
        [650n, 4, { top: [g('ka', 350n, 3), g('kZ', 300n, 1)], groups: 2 }, ['acme', 'globex']],
      );
      const none = { top: [], groups: 0 };
      const empty = { micros: 0n, requests: 0, by: { tenant: none, key: none, model: none, cloud: none } };
      assert.deepEqual(await store.spendSummary(t, t + 120_000, { top: 100, keyIds: [] }), empty);
      assert.deepEqual(await store.spendSummary(t + 180_000, t + 240_000, { top: 100 }), empty);
    });

    test('per-minute roll-ups count each newly stored record once, on both write paths', async () => {
      const t = Date.UTC(2026, 11, 3, 9, 0);
      const id = (ms: number, n: number) =>
        `req_${ms.toString(16).padStart(12, '0')}${n.toString(16).padStart(20, '0')}`;
      const a = [
        record(0, { requestId: id(t, 1), startedAtMs: t + 5, cloud: 'azure', latencyMs: 40, overheadUs: 90 }),
        record(0, {
          requestId: id(t, 2),
          startedAtMs: t + 59_999,
          cloud: 'azure',
          status: 502,
          errorCode: 'upstream_error',
          attempts: 3,
          latencyMs: 700,
          overheadUs: 3_000,
        }),
        record(0, {
          requestId: id(t, 3),
          startedAtMs: t + 60_000,
          cloud: 'openai',
          tokensInputUncached: 5,
          tokensInputCached: 1,
          tokensOutput: 7,
          tokensReasoning: 2,
        }),
      ];
      await store.appendUsage(a);
      await store.appendUsage(a); // a replayed batch: nothing new, nothing counted
      const b = [
        record(0, { requestId: id(t, 4), startedAtMs: t + 61_000, cloud: 'openai', latencyMs: 70_000 }),
      ];
      const plan = () => ({ txs: [], states: new Map(), usageStatus: new Map() });
      await store.postLedger([], [], plan, [], [...b, a[0]!]); // the ledger path: a[0] is not new
      const rows = await store.trafficSeries(t, t + 120_000, 60_000);
      const at = (ms: number, cloud: string) => rows.find((r) => r.t === ms && r.cloud === cloud);
      assert.equal(rows.length, 2);
      const first = at(t, 'azure')!;
      assert.deepEqual([first.requests, first.errors, first.failovers], [2, 1, 1]);
      assert.equal(first.latency[2], 1, '40 ms falls in the 50 ms bucket');
      assert.equal(first.latency[6], 1, '700 ms falls in the 1 s bucket');
      assert.equal(first.overhead[1], 1, '90 µs falls in the 100 µs bucket');
      const second = at(t + 60_000, 'openai')!;
      assert.deepEqual([second.requests, second.tokensInput, second.tokensOutput], [2, 6 + 10, 9 + 0]);
      assert.equal(second.latency.at(-1), 1, '70 s is above the last bound');
      // Buckets of two minutes sum the minutes.
      const wide = await store.trafficSeries(t, t + 120_000, 120_000);
      assert.equal(
        wide.reduce((n, r) => n + r.requests, 0),
        4,
      );
      assert.ok(wide.every((r) => r.t === t));
    });

    test('API keys: put, list, revoke; the hash is all that is stored', async () => {
      await store.putApiKey({
        id: 'k-a',
        tenantId: 'acme',
        sha256: 'a'.repeat(64),
        models: ['gpt-4o'],
        createdAtMs: 1,
        revokedAtMs: null,
      });
      await store.putApiKey({
        id: 'k-b',
        tenantId: 'acme',
        sha256: 'b'.repeat(64),
        models: ['*'],
        createdAtMs: 2,
        revokedAtMs: null,
      });
      assert.equal(await store.revokeApiKey('k-a', 5), true);
      assert.equal(await store.revokeApiKey('k-a', 6), false, 'revoking twice reports nothing to do');
      const keys = await store.listApiKeys();
      const a = keys.find((k) => k.id === 'k-a')!;
      assert.equal(a.revokedAtMs, 5);
      assert.deepEqual(a.models, ['gpt-4o']);
      assert.deepEqual(keys.find((k) => k.id === 'k-b')!.models, ['*']);
    });

    test('API keys: insert refuses an existing id and writes nothing; get reads one key by id', async () => {
      const key = {
        id: 'k-insert',
        tenantId: 'acme',
        sha256: 'd'.repeat(64),
        models: ['gpt-4o'],
        createdAtMs: 3,
        revokedAtMs: null,
        limits: { requestsPerMinute: 7 },
      };
      assert.equal(await store.getApiKey('k-insert'), null);
      assert.equal(await store.insertApiKey(key), true);
      assert.equal(
        await store.insertApiKey({ ...key, tenantId: 'other', sha256: 'e'.repeat(64), models: ['*'] }),
        false,
      );
      const got = await store.getApiKey('k-insert');
      assert.deepEqual(
        [got?.tenantId, got?.sha256, got?.models, got?.limits],
        ['acme', 'd'.repeat(64), ['gpt-4o'], { requestsPerMinute: 7 }],
        'the first key stands',
      );
      assert.equal(await store.getApiKey('k-nope'), null);
    });

    test("the rollout log's last sequence number: 0 when empty, then the last appended", async () => {
      const before = await store.lastRolloutSeq();
      assert.equal(before, (await store.listRolloutEvents()).at(-1)?.seq ?? 0);
      const first = await store.appendRolloutEvent({ kind: 'probe', n: 1 }, () => null);
      const second = await store.appendRolloutEvent({ kind: 'probe', n: 2 }, () => null);
      assert.ok('seq' in first && 'seq' in second);
      assert.ok(second.seq > first.seq && first.seq > before);
      assert.equal(await store.lastRolloutSeq(), second.seq);
      // What was appended after a seq, in order; nothing after the last.
      const since = await store.listRolloutEvents(before);
      assert.deepEqual(
        since.map((e) => [e.seq, e.payload]),
        [
          [first.seq, { kind: 'probe', n: 1 }],
          [second.seq, { kind: 'probe', n: 2 }],
        ],
      );
      assert.deepEqual(
        (await store.listRolloutEvents(first.seq)).map((e) => e.seq),
        [second.seq],
      );
      assert.deepEqual(await store.listRolloutEvents(second.seq), []);
      assert.deepEqual((await store.listRolloutEvents()).slice(-2), since);
    });

    test('the API keys version moves with every change to a key, and with nothing else', async () => {
      const v0 = await store.apiKeysVersion();
      assert.equal(await store.apiKeysVersion(), v0, 'reading it changes nothing');
      const key = {
        id: 'k-version',
        tenantId: 'acme',
        sha256: 'c'.repeat(64),
        models: ['*'],
        createdAtMs: 1,
        revokedAtMs: null,
      };
      await store.putApiKey(key);
      const v1 = await store.apiKeysVersion();
      assert.notEqual(v1, v0, 'a new key');
      await store.putApiKey({ ...key, limits: { requestsPerMinute: 5 } });
      const v2 = await store.apiKeysVersion();
      assert.notEqual(v2, v1, 'a changed key');
      await store.appendUsage([record(9_001)]);
      await store.listApiKeys();
      assert.equal(await store.apiKeysVersion(), v2, 'usage and reads leave it');
      assert.equal(await store.revokeApiKey('k-version', 7), true);
      const v3 = await store.apiKeysVersion();
      assert.notEqual(v3, v2, 'a revocation');
      assert.equal(await store.revokeApiKey('k-version', 8), false);
      assert.equal(await store.apiKeysVersion(), v3, 'a revocation with nothing to revoke leaves it');
    });

    test('the keys changed since a version: each key as it is now, and only those', async () => {
      const v0 = await store.apiKeysVersion();
      assert.deepEqual(await store.apiKeyChangesSince(v0), { version: v0, keys: [], removed: [] });
      await store.putApiKey(apiKey('kc-a'));
      await store.insertApiKey(apiKey('kc-b'));
      const v1 = await store.apiKeysVersion();
      await store.putApiKey({ ...apiKey('kc-a'), limits: { requestsPerMinute: 3 } });
      assert.equal(await store.revokeApiKey('kc-b', 11), true);
      await store.insertApiKey(apiKey('kc-b')); // refused: no change
      const v2 = await store.apiKeysVersion();
      assert.equal(v2 - v0, 4, 'one version per change');
      const all = await store.apiKeyChangesSince(v0);
      assert.equal(all?.version, v2);
      assert.deepEqual(all?.removed, []);
      const byId = new Map(all?.keys.map((k) => [k.id, k]));
      assert.deepEqual([...byId.keys()].sort(), ['kc-a', 'kc-b']);
      assert.deepEqual(byId.get('kc-a')?.limits, { requestsPerMinute: 3 }, 'as it is now');
      assert.equal(byId.get('kc-b')?.revokedAtMs, 11);
      const later = await store.apiKeyChangesSince(v1);
      assert.deepEqual(
        later?.keys.map((k) => k.id).sort(),
        ['kc-a', 'kc-b'],
        'the changes after v1 touched both',
      );
      assert.equal(await store.apiKeyChangesSince(v2 + 1), null, 'a version the store never had');
      assert.equal(await store.apiKeyChangesSince(0), null, 'a version from before the change log');
    });

    test('a key removed from the store is reported as removed', async () => {
      await store.putApiKey(apiKey('kc-gone'));
      const v = await store.apiKeysVersion();
      await rawSql(store, "DELETE FROM api_keys WHERE id = 'kc-gone'");
      const c = await store.apiKeyChangesSince(v);
      assert.deepEqual(c, { version: v + 1, keys: [], removed: ['kc-gone'] });
      assert.equal(await store.apiKeyChangesSince(c!.version - 1)?.then((x) => x?.removed.length), 1);
    });

    test('the change log keeps the last API_KEY_CHANGES_KEPT versions; a node further behind reads every key', async () => {
      const v0 = await store.apiKeysVersion();
      const n = API_KEY_CHANGES_KEPT + 1;
      const series = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${n})`;
      const insert = `INSERT INTO api_keys (id, tenant_id, sha256, models, created_at_ms, revoked_at_ms)`;
      await rawSql(store, {
        sqlite: `${insert} ${series} SELECT 'bulk-' || i, 'acme', printf('%064d', i), '["*"]', 1, NULL FROM n`,
        postgres: `${insert} ${series} SELECT 'bulk-' || i, 'acme', lpad(i::text, 64, '0'), '["*"]', 1, NULL FROM n`,
      });
      const v = await store.apiKeysVersion();
      assert.equal(v - v0, n, 'one version per row');
      assert.equal(Number(await rawSql(store, 'SELECT count(*) FROM api_key_changes')), API_KEY_CHANGES_KEPT);
      assert.equal(await store.apiKeyChangesSince(v0), null);
      assert.equal(await store.apiKeyChangesSince(v - API_KEY_CHANGES_KEPT - 1), null);
      const oldest = await store.apiKeyChangesSince(v - API_KEY_CHANGES_KEPT);
      assert.equal(oldest?.keys.length, API_KEY_CHANGES_KEPT);
      const last = await store.apiKeyChangesSince(v - 2);
      assert.deepEqual(last?.keys.map((k) => k.id).sort(), [`bulk-${n - 1}`, `bulk-${n}`]);
    });

    test('keys in pages of id order, and the ids of a prefix without the keys', async () => {
      for (const id of ['kp_1', 'kp_2', 'kp_3', 'kp%4', 'kpx5', 'kp_1.r2']) await store.putApiKey(apiKey(id));
      const ids = (await store.listApiKeys()).map((k) => k.id);
      const pages: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await store.listApiKeys({ limit: 2, ...(after ? { after } : {}) });
        assert.ok(page.length <= 2);
        if (page.length === 0) break;
        pages.push(...page.map((k) => k.id));
        after = page.at(-1)!.id;
      }
      assert.deepEqual(pages, ids, 'the pages, one after another, are every key once, in order');
      assert.deepEqual(await store.listApiKeyIds('kp_1'), ['kp_1', 'kp_1.r2']);
      // Not a LIKE pattern: '_' and '%' match only themselves.
      assert.deepEqual(await store.listApiKeyIds('kp_'), ['kp_1', 'kp_1.r2', 'kp_2', 'kp_3']);
      assert.deepEqual(await store.listApiKeyIds('kp%'), ['kp%4']);
      assert.deepEqual(await store.listApiKeyIds('kq'), []);
    });
  });
}
