// What a gateway's SQLite store keeps off its serving thread. The read thread
// (src/store/sqlite/read-thread.ts): the reads that grow with the data run there, not on the thread
// that calls them, so the serving thread goes on serving while a month of spend is summed (that
// its answers are the calling thread's is the store conformance suite's job: it runs against this
// store too). And checkpoints: the serving connection never runs one; the spool writer does.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { silentLogger } from '../src/observability/index.js';
import { UsageSpool } from '../src/spool/index.js';
import { READ_THREAD_NICE, SqliteStore } from '../src/store/index.js';
import { ANSWER_ROWS } from '../src/store/sqlite/read-thread.js';
import { eventually } from './helpers/eventually.js';
import { usageRecord } from './helpers/records.js';
import { threadNices } from './helpers/thread-nices.js';

async function storeAt(path: string, readThread: boolean): Promise<SqliteStore> {
  const s = new SqliteStore(path, readThread ? { readThread: { nice: READ_THREAD_NICE } } : {});
  await s.migrate();
  return s;
}

/** How many turns of the event loop ran while `p` was pending. */
async function turnsWhile<T>(p: Promise<T>): Promise<number> {
  let turns = 0;
  let done = false;
  const tick = () => {
    if (done) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  await p;
  done = true;
  return turns;
}

describe("the SQLite store's read thread", () => {
  test('the event loop turns while a read is answered, where the calling thread would be held', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'entente-reads-')), 'e.db');
    const plain = await storeAt(path, false);
    const threaded = await storeAt(path, true);
    try {
      await plain.appendUsage(Array.from({ length: 500 }, (_, i) => usageRecord(`req-${i}`)));
      for (const store of [plain, threaded]) {
        const turns = await turnsWhile(store.countUsage());
        if (store === plain)
          assert.equal(turns, 0, 'on the calling thread, the answer is there before a turn');
        else assert.ok(turns > 0, 'on the read thread, the loop turns while it reads');
      }
      assert.equal(await threaded.countUsage(), 500, 'and it reads what the other connection committed');
      const rows = await threaded.listUsage({ limit: 3 });
      assert.deepEqual(rows, await plain.listUsage({ limit: 3 }));
    } finally {
      await threaded.close();
      await plain.close();
    }
  });

  test(`a long answer comes in parts of ${ANSWER_ROWS} rows, the loop turning between them, whole and in order`, async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'entente-reads-')), 'e.db');
    const plain = await storeAt(path, false);
    const threaded = await storeAt(path, true);
    try {
      const n = 2 * ANSWER_ROWS + 345;
      await plain.appendUsage(
        Array.from({ length: n }, (_, i) => usageRecord(`req-${String(i).padStart(6, '0')}`)),
      );
      await threaded.countUsage(); // the thread is up
      const read = threaded.listUsage({ limit: n + 10 });
      // Calls made while the parts flow are answered too, each with its own answer.
      const [rows, count, short, turns] = await Promise.all([
        read,
        threaded.countUsage(),
        threaded.listUsage({ limit: 2 }),
        turnsWhile(read),
      ]);
      assert.equal(rows.length, n);
      assert.deepEqual(rows, await plain.listUsage({ limit: n + 10 }));
      assert.equal(count, n);
      assert.deepEqual(short, rows.slice(0, 2));
      assert.ok(turns >= 2, `the loop turned ${turns} times: at least once for each part asked for`);
      // An answer of exactly one part's rows, and one of no rows, come whole.
      assert.equal((await threaded.listUsage({ limit: ANSWER_ROWS })).length, ANSWER_ROWS);
      assert.deepEqual(await threaded.listUsage({ tenantId: 'nobody' }), []);
    } finally {
      await threaded.close();
      await plain.close();
    }
  });

  test('a failed read rejects with its error, and the next read is answered', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'entente-reads-')), 'e.db');
    const store = await storeAt(path, true);
    try {
      // A value SQLite cannot bind: the read thread's error, with its message, here.
      await assert.rejects(store.listUsage({ tenantId: {} as string }), /Too few parameter values/);
      assert.equal(await store.countUsage(), 0);
    } finally {
      await store.close();
    }
  });

  test('a long answer whose parts are still coming when the store closes is rejected', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'entente-reads-')), 'e.db');
    const plain = await storeAt(path, false);
    const store = await storeAt(path, true);
    try {
      await plain.appendUsage(
        Array.from({ length: 3 * ANSWER_ROWS }, (_, i) => usageRecord(`req-${String(i).padStart(6, '0')}`)),
      );
      await store.countUsage(); // the thread is up
      // The serving side asks for each next part: closed at the first ask, the rest never comes.
      const post = Worker.prototype.postMessage;
      const asked = new Promise<void>((resolve) => {
        Worker.prototype.postMessage = function (this: Worker, m: unknown, ...rest: never[]) {
          if ((m as { next?: boolean }).next) resolve();
          return post.call(this, m, ...rest);
        };
      });
      try {
        const read = store.listUsage({ limit: 3 * ANSWER_ROWS });
        await asked;
        await store.close();
        await assert.rejects(read, /read thread exited/);
      } finally {
        Worker.prototype.postMessage = post;
      }
    } finally {
      await plain.close();
    }
  });

  test('a read pending when the store closes is rejected, not left waiting', async () => {
    const store = await storeAt(join(mkdtempSync(join(tmpdir(), 'entente-reads-')), 'e.db'), true);
    await store.countUsage(); // the thread is up
    const pending = store.countUsage();
    await store.close();
    await assert.rejects(pending, /read thread exited/);
  });

  test(`the read thread runs at nice ${READ_THREAD_NICE}, and only it`, {
    skip: process.platform !== 'linux' && 'nice values per thread are a Linux feature',
  }, async () => {
    const store = await storeAt(join(mkdtempSync(join(tmpdir(), 'entente-reads-')), 'e.db'), true);
    try {
      const before = threadNices();
      await store.countUsage(); // started at the first read, which it answers after lowering itself
      const added = [...threadNices()].filter(([tid]) => !before.has(tid));
      assert.deepEqual(
        added.filter(([, nice]) => nice !== 0).map(([, nice]) => nice),
        [READ_THREAD_NICE],
      );
      assert.equal(threadNices().get(process.pid), 0, 'the calling thread keeps its own');
    } finally {
      await store.close();
    }
  });
});

/** Frames in a WAL file of this size (a 32-byte header, then frames of a 24-byte header and a 4 KiB page). */
const walFrames = (path: string) =>
  Math.max(0, Math.floor((statSync(`${path}-wal`).size - 32) / (24 + 4096)));

/** 1,500 commits of about a page each, through `store`. */
async function writePages(store: SqliteStore, prefix: string): Promise<void> {
  for (let i = 0; i < 1_500; i++)
    await store.putApiKey({
      id: `${prefix}-${i}`,
      tenantId: 'acme',
      sha256: createHash('sha256').update(`${prefix}-${i}`).digest('hex'),
      models: ['*'],
      createdAtMs: 1,
      revokedAtMs: null,
      metadata: { note: 'x'.repeat(200) },
    });
}

describe('checkpoints are left to a connection other than the serving one', () => {
  test('a connection opened so never checkpoints on commit; another connection copies its log', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'entente-ckpt-'));
    const control = new SqliteStore(join(dir, 'control.db'));
    await control.migrate();
    await writePages(control, 'k');
    assert.ok(walFrames(join(dir, 'control.db')) < 1_100, 'by default a commit past 1,000 pages checkpoints');
    await control.close();

    const path = join(dir, 'serving.db');
    const serving = new SqliteStore(path, { autoCheckpoint: false });
    await serving.migrate();
    await writePages(serving, 'k');
    const frames = walFrames(path);
    assert.ok(frames > 1_500, `the serving connection left its log alone: ${frames} frames`);
    const writer = new SqliteStore(path);
    try {
      assert.ok((await writer.checkpoint()) >= 1_500, 'the other connection copies every frame');
      assert.equal(await writer.checkpoint(), frames, 'and a second time finds them all copied');
    } finally {
      await writer.close();
      await serving.close();
    }
  });

  test("a gateway's spool writer checkpoints what the serving connection wrote", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'entente-ckpt-'));
    const path = join(dir, 'entente.db');
    const serving = new SqliteStore(path, { autoCheckpoint: false });
    await serving.migrate();
    const spool = await UsageSpool.open({
      dir: join(dir, 'spool'),
      location: serving.location,
      setup: null,
      batchSize: 50,
      flushIntervalMs: 5,
      fsyncIntervalMs: 2,
      nice: 0,
      scanIntervalMs: 20,
      durability: 'process',
      maxBacklogRecords: 100,
      segmentBytes: 65_536,
      log: silentLogger,
    });
    try {
      // Written after the writer started (its own start-up commits checkpoint what came before).
      await writePages(serving, 'k');
      assert.ok(walFrames(path) > 1_500);
      // Once the log is copied, SQLite restarts it from its start: a commit then adds no frame.
      let n = 0;
      await eventually(async () => {
        const before = statSync(`${path}-wal`).size;
        await serving.revokeApiKey(`k-${n++}`, 5);
        return statSync(`${path}-wal`).size === before;
      }, 'a commit that reuses the log from its start');
    } finally {
      await spool.close(1_000);
      await serving.close();
    }
  });
});
