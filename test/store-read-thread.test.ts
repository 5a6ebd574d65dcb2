// The SQLite store's read thread (src/store/sqlite/read-thread.ts): the reads that grow with the
// data run there, not on the thread that calls them, so a gateway's serving thread goes on serving
// while a month of spend is summed. (That its answers are the calling thread's is the store
// conformance suite's job: it runs against this store too.)
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { READ_THREAD_NICE, SqliteStore } from '../src/store/index.js';
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
