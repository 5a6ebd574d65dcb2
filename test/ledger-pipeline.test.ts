// The spool writer's pipeline (postUsageBatches): each batch is still its own unit of work, in
// order, so the ledger it writes is the one posting the batches one by one writes, to the micro-unit,
// whatever the batch sizes, with repeats, and with the cap reached mid-way; and a batch that fails
// stops the run with the batches before it committed and none after.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseAgreementText } from '../src/agreements/index.js';
import {
  type PostResult,
  parsePriceBooks,
  postUsage,
  postUsageBatches,
  prepareUsage,
} from '../src/ledger/index.js';
import type { Store, UsageRecord } from '../src/store/index.js';
import { backends } from './helpers/backends.js';
import { universeRecord, WORKER_AGREEMENT, WORKER_PRICES } from './helpers/ledger-worker.js';
import { seeded } from './helpers/random.js';

const setup = {
  priceBooks: parsePriceBooks(WORKER_PRICES, 'p.yaml'),
  // A cap of 0.30 (a third of revenue): reached within the first few hundred records.
  agreement: parseAgreementText(WORKER_AGREEMENT, 'a.yaml'),
  owner: 'op',
};

/** Batches of random sizes over `records`, some records delivered twice. */
function batchesOf(records: readonly UsageRecord[], seed: number): UsageRecord[][] {
  const random = seeded(seed);
  const deliveries = [...records, ...records.filter(() => random() < 0.1)];
  const out: UsageRecord[][] = [];
  for (let i = 0; i < deliveries.length; ) {
    const n = 1 + Math.floor(random() * 120);
    out.push(deliveries.slice(i, i + n));
    i += n;
  }
  return out;
}

const ledgerOf = async (store: Store) =>
  (await store.ledgerRows()).map((r) => `${r.txId} ${r.account} ${r.amountMicros} ${r.period}`).sort();

for (const b of backends('pipeline')) {
  describe(`ledger pipeline: ${b.name}`, { skip: b.skip }, () => {
    test('the pipelined ledger is the one batch-by-batch posting writes, over several seeds', async () => {
      for (const seed of [1, 2, 3]) {
        const records = Array.from({ length: 600 }, (_, i) => universeRecord(seed * 10_000 + i));
        const batches = batchesOf(records, seed);
        const one = await b.open();
        const piped = await b.open();
        try {
          const sequential: PostResult[] = [];
          for (const batch of batches)
            sequential.push(await postUsage(one, batch, setup, { storeRecords: true }));
          const results: PostResult[] = [];
          const heard: (readonly UsageRecord[])[] = [];
          let at = 0;
          await postUsageBatches(piped, () => batches[at++] ?? null, setup, {
            storeRecords: true,
            posted: (batch, result) => {
              heard.push(batch);
              results.push(result);
            },
          });
          assert.deepEqual(results, sequential, `seed ${seed}: the same outcome for every batch`);
          assert.deepEqual(heard, batches, `seed ${seed}: each batch heard once, in order`);
          assert.deepEqual(await ledgerOf(piped), await ledgerOf(one), `seed ${seed}: the same ledger`);
          assert.deepEqual(await piped.accrualStates(), await one.accrualStates());
          assert.equal(await piped.countUsage(), records.length);
          assert.deepEqual(await piped.pendingUsage(10), []);
          const capped = [...(await piped.accrualStates()).values()].reduce(
            (n, s) => n + s.accruedMicros,
            0n,
          );
          assert.equal(capped, 300_000n, `seed ${seed}: the cap was reached, and held`);
        } finally {
          await one.close();
          await piped.close();
        }
      }
    });

    test('a batch that fails stops the run: those before it are committed, it and those after are not', async () => {
      const store = await b.open();
      try {
        const batches = [0, 1, 2, 3].map((k) =>
          Array.from({ length: 50 }, (_, i) => universeRecord(90_000 + k * 50 + i)),
        );
        let units = 0;
        // The third unit of work fails (the database refuses it, say).
        const failing = new Proxy(store, {
          get(target, prop, receiver) {
            if (prop === 'postLedger')
              return (...args: Parameters<Store['postLedger']>) => {
                if (++units === 3) return Promise.reject(new Error('refused'));
                return target.postLedger(...args);
              };
            const v = Reflect.get(target, prop, receiver);
            return typeof v === 'function' ? v.bind(target) : v;
          },
        });
        const heard: number[] = [];
        let at = 0;
        await assert.rejects(
          postUsageBatches(failing, () => batches[at++] ?? null, setup, {
            storeRecords: true,
            posted: (batch) => heard.push(batches.indexOf(batch as UsageRecord[])),
          }),
          /refused/,
        );
        assert.deepEqual(heard, [0, 1]);
        assert.equal(units, 3, 'nothing after the failed batch was committed');
        assert.equal(await store.countUsage(), 100);
        // What was prepared ahead and not committed is simply posted again by the next run.
        assert.equal((await postUsage(store, batches[3]!, setup, { storeRecords: true })).posted, 50);
      } finally {
        await store.close();
      }
    });

    test('a batch that cannot be prepared fails alone, not the batch being written meanwhile', async () => {
      const store = await b.open();
      try {
        const batches = [0, 1].map((k) =>
          Array.from({ length: 50 }, (_, i) => universeRecord(95_000 + k * 50 + i)),
        );
        let calls = 0;
        // The third batch cannot be had; it is asked for while the second is being written.
        const next = () => {
          if (++calls === 3) throw new Error('no third batch');
          return batches[calls - 1] ?? null;
        };
        const heard: number[] = [];
        await assert.rejects(
          postUsageBatches(store, next, setup, {
            storeRecords: true,
            posted: (batch) => heard.push(batches.indexOf(batch as UsageRecord[])),
          }),
          /no third batch/,
        );
        assert.deepEqual(heard, [0, 1]);
        assert.equal(await store.countUsage(), 100);
        assert.deepEqual(await store.pendingUsage(10), []);
      } finally {
        await store.close();
      }
    });

    test('prepared batches carry each revenue identity, as the plan computes it', () => {
      const records = Array.from({ length: 20 }, (_, i) => universeRecord(i));
      const p = prepareUsage(records, setup, { storeRecords: true });
      assert.equal(p.inputs.length, 20);
      assert.equal(new Set(p.inputs.map((i) => i.payloadHash)).size, 20);
      assert.deepEqual(
        p.txIds,
        records.map((r) => `revenue:${r.requestId}`),
      );
      assert.ok(p.termIds.some((k) => k.startsWith('carry:')));
    });
  });
}
