// The usage spool on every store backend: records appended are stored and posted by the writer
// thread; what an earlier process left in the spool is recovered exactly once (a torn last line
// and a corrupt line are dropped, records already stored are not doubled); `durability: os`
// resolves only after a group commit; and when the database stops taking records the backlog
// grows until new work is refused, then drains with nothing lost or doubled.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import pg from 'pg';
import { parseAgreementText } from '../src/agreements/index.js';
import { type LedgerSetup, parsePriceBooks } from '../src/ledger/index.js';
import { silentLogger } from '../src/observability/index.js';
import { encodeLine, type SpoolOptions, segmentName, UsageSpool } from '../src/spool/index.js';
import { PublishedPosition } from '../src/spool/published.js';
import { SqliteStore, type Store } from '../src/store/index.js';
import { backends, pgUrl } from './helpers/backends.js';
import { eventually } from './helpers/eventually.js';
import { usageRecord } from './helpers/records.js';
import { shareAgreementYaml } from './helpers/share-agreement.js';
import { threadNices } from './helpers/thread-nices.js';

const record = (i: number) =>
  usageRecord(`req_spool_${String(i).padStart(6, '0')}`, {
    stream: i % 2 === 0,
    tokensInputUncached: 10 + i,
    tokensOutput: 5,
    startedAtMs: Date.UTC(2026, 5, 1) + i,
  });

const setup: LedgerSetup = {
  priceBooks: parsePriceBooks(
    'currency: USD\nbooks:\n  - { id: b, effectiveFrom: 2020-01-01T00:00:00Z, prices: [{ model: m, inputUncached: "100", inputCached: "50", output: "400" }] }\n',
    'prices.yaml',
  ),
  agreement: parseAgreementText(
    shareAgreementYaml({ payer: 'op', payee: 'partner', rate: '20/100', from: '2020-01-01T00:00:00Z' }),
    'agreement.yaml',
  ),
  owner: 'op',
};

function options(store: Store, dir: string, extra: Partial<SpoolOptions> = {}): SpoolOptions {
  return {
    dir,
    location: store.location,
    setup,
    batchSize: 50,
    flushIntervalMs: 5,
    fsyncIntervalMs: 2,
    nice: 0,
    scanIntervalMs: 100,
    durability: 'process',
    maxBacklogRecords: 100,
    segmentBytes: 65_536,
    log: silentLogger,
    ...extra,
  };
}

const spoolFiles = (dir: string) => readdirSync(dir).filter((n) => n.endsWith('.spool'));

for (const backend of backends('spool')) {
  describe(`usage spool on ${backend.name}`, { skip: backend.skip }, () => {
    after(() => backend.cleanup());

    test('appended records are stored and posted; segments rotate and are removed once stored', async () => {
      const store = await backend.open();
      const dir = mkdtempSync(join(tmpdir(), 'entente-spool-'));
      const spool = await UsageSpool.open(options(store, dir));
      for (let i = 0; i < 600; i++) spool.append(record(i)); // ~230 KB: several 64 KiB segments
      await spool.flush();
      assert.equal(await store.countUsage(), 600);
      assert.equal((await store.pendingUsage(1)).length, 0, 'every record posted');
      assert.equal(spool.pending, 0);
      await spool.close();
      assert.deepEqual(spoolFiles(dir), []);
      const rows = await store.ledgerRows();
      assert.equal(new Set(rows.filter((r) => r.code === 'revenue').map((r) => r.txId)).size, 600);
      await store.close();
    });

    // A writer that numbered lines wrongly never reaches the flush's record number: the timeout
    // turns that hang into a failure.
    test('records appended while the writer reads, across segment rotations, are stored once each', {
      timeout: 60_000,
    }, async () => {
      const store = await backend.open();
      const dir = mkdtempSync(join(tmpdir(), 'entente-spool-'));
      const spool = await UsageSpool.open(options(store, dir, { batchSize: 500, maxBacklogRecords: 5_000 }));
      // 40 event-loop turns of 50 records (~770 KB, a dozen segments): the writer's group commits
      // (every 2 ms) read the published position between turns, some while a sealed segment's
      // message is still on its way.
      for (let turn = 0; turn < 40; turn++) {
        for (let i = 0; i < 50; i++) spool.append(record(1_000 + turn * 50 + i));
        await new Promise(setImmediate);
      }
      await spool.flush();
      assert.equal(spool.pending, 0);
      const ids = new Set((await store.listUsage({ limit: 5_000 })).map((u) => u.requestId));
      assert.equal(ids.size, 2_000);
      assert.equal(await store.countUsage(), 2_000, 'nothing doubled');
      assert.equal((await store.pendingUsage(1)).length, 0, 'every record posted');
      await spool.close();
      assert.deepEqual(spoolFiles(dir), []);
      await store.close();
    });

    test('a spool left by a dead process is recovered once; torn and corrupt lines are dropped', async () => {
      const store = await backend.open();
      const dir = mkdtempSync(join(tmpdir(), 'entente-spool-'));
      await store.appendUsage([record(1)]); // stored before the crash: must not be doubled
      const lines = [1, 2, 3].map((i) => encodeLine(record(i)));
      const corrupt = encodeLine(record(4)).replace('req_spool_000004', 'req_spool_000044');
      assert.notEqual(corrupt, encodeLine(record(4)));
      const torn = encodeLine(record(5)).slice(0, 40);
      writeFileSync(join(dir, segmentName(7)), lines[0]! + lines[1]! + corrupt + lines[2]! + torn);
      const spool = await UsageSpool.open(options(store, dir));
      assert.equal(spool.recovered, 2, 'records 2 and 3 were new to the store');
      const ids = (await store.listUsage({ limit: 100 })).map((u) => u.requestId).sort();
      assert.deepEqual(
        ids,
        [record(1), record(2), record(3)].map((r) => r.requestId),
      );
      assert.equal((await store.pendingUsage(10)).length, 0, 'recovered records are posted');
      assert.deepEqual(spoolFiles(dir), [segmentName(8)], 'the old segment is gone; the new one follows it');
      spool.append(record(9));
      await spool.close();
      assert.equal(await store.countUsage(), 4);
      await store.close();
    });

    test("a turn's records are written together at its end, and only then are their requests completed", async () => {
      const store = await backend.open();
      const dir = mkdtempSync(join(tmpdir(), 'entente-spool-'));
      const spool = await UsageSpool.open(options(store, dir));
      const done: boolean[] = [];
      // A completion that throws (a bug) keeps none of the others from theirs.
      spool.append(record(299), () => {
        throw new Error('a bug in one completion');
      });
      for (let i = 0; i < 3; i++) spool.append(record(300 + i), (ok) => done.push(ok));
      const onDisk = () => readFileSync(join(dir, spoolFiles(dir)[0]!), 'utf8');
      assert.deepEqual(done, [], 'nothing completed within the turn');
      assert.equal(onDisk(), '', 'nothing written within the turn');
      await new Promise(setImmediate);
      assert.deepEqual(done, [true, true, true]);
      assert.equal(onDisk(), [-1, 0, 1, 2].map((i) => encodeLine(record(300 + i))).join(''));
      await spool.flush();
      assert.equal(await store.countUsage(), 4);
      await spool.close();
      await store.close();
    });

    test('a failed write completes none of its requests, tears no later record, and loses nothing written', async () => {
      const store = await backend.open();
      const dir = mkdtempSync(join(tmpdir(), 'entente-spool-'));
      let calls = 0;
      // The first write stops short in the middle of the turn's third line (a full disk), the
      // second fails outright; later ones succeed.
      const spool = await UsageSpool.open(
        options(store, dir, {
          writeLines: (fd, text) => {
            calls++;
            if (calls === 1) {
              const cut = Buffer.byteLength(encodeLine(record(400)) + encodeLine(record(401))) + 20;
              return writeSync(fd, Buffer.from(text).subarray(0, cut));
            }
            if (calls === 2)
              throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
            return writeSync(fd, text);
          },
        }),
      );
      const turn = async (ids: number[]) => {
        const out: boolean[] = [];
        for (const i of ids) spool.append(record(i), (ok) => out.push(ok));
        await new Promise(setImmediate);
        return out;
      };
      assert.deepEqual(
        await turn([400, 401, 402, 403]),
        [true, true, false, false],
        'two lines were written whole',
      );
      assert.deepEqual(await turn([404, 405]), [false, false], 'the failed write completes nothing');
      assert.deepEqual(await turn([406, 407]), [true, true]);
      await spool.flush();
      assert.equal(spool.pending, 0);
      const ids = (await store.listUsage({ limit: 100 })).map((u) => u.requestId).sort();
      assert.deepEqual(
        ids,
        [400, 401, 406, 407].map((i) => record(i).requestId),
        'what was written whole is stored; the torn line is dropped',
      );
      assert.equal((await store.pendingUsage(10)).length, 0);
      await spool.close();
      assert.deepEqual(spoolFiles(dir), []);
      await store.close();
    });

    test('durability os: the append resolves only once a group commit has fsynced it', async () => {
      const store = await backend.open();
      // Group commits a second apart: storing the records happens well before the first one.
      const spool = await UsageSpool.open(
        options(store, mkdtempSync(join(tmpdir(), 'entente-spool-')), {
          durability: 'os',
          fsyncIntervalMs: 1000,
        }),
      );
      let done = 0;
      const acks = Array.from(
        { length: 20 },
        (_, i) =>
          new Promise<boolean>((resolve) =>
            spool.append(record(100 + i), (ok) => {
              done++;
              resolve(ok);
            }),
          ),
      );
      await spool.flush();
      assert.equal(await store.countUsage(), 20);
      assert.equal(done, 0, 'stored in the database, but not acknowledged before its fsync');
      assert.deepEqual(await Promise.all(acks), Array(20).fill(true));
      assert.equal(done, 20);
      await spool.close();
      await store.close();
    });
  });
}

describe('the published spool position', () => {
  test('a reader on another thread never sees a torn position', async () => {
    const position = new PublishedPosition();
    // Another thread publishes (i, 2i, 3i) as fast as it can; every reading here must be one of
    // those triples, never one publication's index with another's length or record number.
    const writer = new Worker(
      `const { workerData } = require('node:worker_threads');
       import(workerData.module).then(({ PublishedPosition }) => {
         const p = new PublishedPosition(workerData.buffer);
         for (let i = 1; i <= 2_000_000; i++) p.publish(i, 2 * i, 3 * i);
       });`,
      {
        eval: true,
        workerData: {
          buffer: position.buffer,
          module: new URL('../src/spool/published.js', import.meta.url).href,
        },
      },
    );
    const exited = new Promise((resolve) => writer.once('exit', resolve));
    let readings = 0;
    let last = 0;
    let done = false;
    void exited.then(() => {
      done = true;
    });
    while (!done || last < 2_000_000) {
      for (let k = 0; k < 10_000; k++) {
        const p = position.read();
        if (p === null) continue;
        readings++;
        assert.equal(p.bytes, 2 * p.index);
        assert.equal(p.seq, 3 * p.index);
        assert.ok(p.index >= last, 'positions only move forward');
        last = p.index;
      }
      await new Promise(setImmediate);
    }
    assert.ok(readings > 0);
    assert.equal(last, 2_000_000);
  });
});

describe('one process per spool folder', () => {
  test('a live owner keeps the folder; a dead one (a killed gateway) is taken over', async () => {
    const [sqlite] = backends('spoollock');
    const store = await sqlite!.open();
    const dir = mkdtempSync(join(tmpdir(), 'entente-spool-'));
    const first = await UsageSpool.open(options(store, dir));
    await assert.rejects(
      UsageSpool.open(options(store, dir)),
      (e: unknown) => (e as { code?: string }).code === 'spool_locked',
    );
    await first.close();
    writeFileSync(join(dir, 'LOCK'), '2147483646'); // a pid no process has
    const second = await UsageSpool.open(options(store, dir));
    await second.close();
    await store.close();
  });
});

interface PgSpool {
  readonly store: Store;
  readonly spool: UsageSpool;
  /** The store's schema, for statements that tamper with its tables. */
  readonly schema: string;
  /** A second session on the same database. */
  readonly admin: pg.Client;
}

/** A spool on a fresh PostgreSQL schema, with a second session; everything is closed after `fn`. */
async function withPgSpool(name: string, fn: (x: PgSpool) => Promise<void>): Promise<void> {
  const [pgBackend] = backends(name).filter((b) => b.name === 'postgres');
  const store = await pgBackend!.open();
  const { schema, url } = store.location as { schema: string; url: string };
  const spool = await UsageSpool.open(options(store, mkdtempSync(join(tmpdir(), 'entente-spool-'))));
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    await fn({ store, spool, schema, admin });
  } finally {
    await admin.end();
    await spool.close();
    await store.close();
    await pgBackend!.cleanup();
  }
}

const needsPg = { skip: pgUrl ? false : 'PostgreSQL is not reachable' };

describe('usage spool back-pressure', needsPg, () => {
  test('a database that stops taking records fills the backlog, new work is refused, then it drains exactly', () =>
    withPgSpool('spoolbp', async ({ store, spool, schema, admin }) => {
      // Another session holds the usage table: every insert waits behind the lock.
      await admin.query('BEGIN');
      await admin.query(`LOCK TABLE ${schema}.usage_records IN ACCESS EXCLUSIVE MODE`);
      let i = 0;
      while (!spool.full) spool.append(record(1000 + i++));
      assert.equal(i, 100, 'full exactly at usage.maxBacklogRecords');
      assert.ok(spool.pending >= 100);
      await admin.query('ROLLBACK');
      await spool.flush();
      assert.equal(spool.full, false);
      assert.equal(spool.pending, 0);
      assert.equal(await store.countUsage(), 100);
      await eventually(async () => (await store.pendingUsage(1)).length === 0, 'the backlog to be posted');
    }));
});

describe('usage spool flush with posted', needsPg, () => {
  test('records whose posting failed are pending: a plain flush resolves, a posted flush waits until they are posted', () =>
    withPgSpool('spoolpost', async ({ store, spool, schema, admin }) => {
      spool.append(record(2000));
      await spool.flush({ posted: true });
      assert.equal((await store.pendingUsage(10)).length, 0);
      spool.append(record(2100));
      assert.equal(await spool.postedOrFailing(), null, 'posted: no failure to report');
      assert.equal((await store.pendingUsage(10)).length, 0);
      // Posting needs the ledger's tables; storing a record pending does not.
      await admin.query(`ALTER TABLE ${schema}.ledger_transactions RENAME TO ledger_transactions_away`);
      for (let i = 1; i <= 5; i++) spool.append(record(2000 + i));
      // The writer's first failure report ends this wait, with its message.
      const failing = spool.postedOrFailing();
      let postedFlushDone = false;
      const posted = spool.flush({ posted: true }).then(() => {
        postedFlushDone = true;
      });
      assert.match((await failing) ?? '', /ledger_transactions/);
      await spool.flush();
      assert.equal((await store.pendingUsage(10)).length, 5, 'stored, not posted');
      assert.equal(postedFlushDone, false, 'a posted flush does not resolve while records are only pending');
      await admin.query(`ALTER TABLE ${schema}.ledger_transactions_away RENAME TO ledger_transactions`);
      await posted;
      assert.equal((await store.pendingUsage(10)).length, 0, 'posted when the posted flush resolves');
      assert.equal(await store.countUsage(), 7);
    }));
});

describe('the writer thread runs at usage.writerNice', {
  skip: process.platform !== 'linux' && 'nice values per thread are a Linux feature',
}, () => {
  for (const nice of [7, 0]) {
    test(`writerNice ${nice}: ${nice > 0 ? 'the writer thread alone is lowered' : 'no thread is lowered'}`, async () => {
      const store = new SqliteStore(join(mkdtempSync(join(tmpdir(), 'entente-nice-')), 'e.db'));
      await store.migrate();
      const before = threadNices();
      assert.equal(before.get(process.pid), 0, 'the test runs at nice 0');
      // The writer reports ready only after it has set its priority, and so after this returns.
      const spool = await UsageSpool.open(
        options(store, mkdtempSync(join(tmpdir(), 'entente-spool-')), { nice }),
      );
      try {
        const lowered = [...threadNices()].filter(([, n]) => n !== 0);
        if (nice === 0) assert.deepEqual(lowered, []);
        else {
          assert.equal(lowered.length, 1, `one thread at nice ${nice}: ${JSON.stringify(lowered)}`);
          assert.equal(lowered[0]![1], nice);
          assert.ok(
            !before.has(lowered[0]![0]),
            'the lowered thread is the new writer, no thread that ran before',
          );
        }
        // It still stores and posts what it is given.
        spool.append(record(900_001));
        await spool.flush();
        assert.equal(await store.countUsage(), 1);
      } finally {
        await spool.close();
        await store.close();
      }
    });
  }
});
