// A node follows key changes through the store's change log (Store.apiKeyChangesSince), updating
// its key ring and its limits with the changed keys only. Whatever several writers do at once
// (other nodes, the CLI: new keys, changed limits, revocations, rows deleted by hand), a node that
// catches up while they write must end with exactly what a node reading every key would hold.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import { KeyRing } from '../src/gateway/index.js';
import { LimitSet } from '../src/limits/index.js';
import { type ApiKeyRecord, PostgresStore, SqliteStore, type Store } from '../src/store/index.js';
import { backends, raw } from './helpers/backends.js';

const KEYS = 12;
const secretOf = (i: number) => `sk-catch-up-${i}`;
const keyOf = (i: number, rpm: number | null): ApiKeyRecord => ({
  id: `cu-${i}`,
  tenantId: `t${i % 3}`,
  sha256: createHash('sha256').update(secretOf(i)).digest('hex'),
  models: ['*'],
  createdAtMs: 1,
  revokedAtMs: null,
  ...(rpm === null ? {} : { limits: { requestsPerMinute: rpm } }),
});

type Op =
  | { readonly kind: 'put'; readonly key: number; readonly rpm: number | null }
  | { readonly kind: 'revoke'; readonly key: number }
  | { readonly kind: 'delete'; readonly key: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('put' as const),
    key: fc.nat(KEYS - 1),
    rpm: fc.option(fc.integer({ min: 1, max: 99 })),
  }),
  fc.record({ kind: fc.constant('revoke' as const), key: fc.nat(KEYS - 1) }),
  fc.record({ kind: fc.constant('delete' as const), key: fc.nat(KEYS - 1) }),
);

async function apply(store: Store, o: Op): Promise<void> {
  if (o.kind === 'put') await store.putApiKey(keyOf(o.key, o.rpm));
  else if (o.kind === 'revoke') await store.revokeApiKey(`cu-${o.key}`, 5);
  else {
    const db = await raw(store);
    try {
      await db.exec(`DELETE FROM api_keys WHERE id = 'cu-${o.key}'`);
    } finally {
      await db.close();
    }
  }
}

/** What a node holds: its ring, its limits, and the version they are of. */
interface Node {
  ring: KeyRing;
  rules: LimitSet;
  version: number;
  fullReloads: number;
}

async function load(store: Store): Promise<Node> {
  const version = await store.apiKeysVersion();
  const keys = await store.listApiKeys();
  return { ring: new KeyRing(keys), rules: LimitSet.from(undefined, keys), version, fullReloads: 0 };
}

async function catchUp(store: Store, node: Node): Promise<void> {
  const c = await store.apiKeyChangesSince(node.version);
  if (c === null) {
    const fresh = await load(store);
    Object.assign(node, { ...fresh, fullReloads: node.fullReloads + 1 });
    return;
  }
  node.ring.update(c.keys, c.removed);
  node.rules.applyKeys(c.keys, c.removed);
  node.version = c.version;
}

/** Each secret's caller and each key's rules, as the node would answer them. */
function viewOf(node: Node) {
  return Array.from({ length: KEYS }, (_, i) => ({
    caller: node.ring.lookup(secretOf(i), 10),
    rules: node.rules.matching(`cu-${i}`, `t${i % 3}`, 'm').map((r) => [r.id, r.rpm]),
  }));
}

for (const b of backends('catchup')) {
  describe(`a node catching up with key changes: ${b.name}`, { skip: b.skip }, () => {
    after(() => b.cleanup());

    test('while several writers change keys at once, it ends as a full reload would', async () => {
      const node = await b.open();
      // The writers: connections of their own to the same database (other processes, other nodes).
      const at = node.location;
      const writers: Store[] = Array.from({ length: 3 }, () =>
        at.kind === 'sqlite'
          ? new SqliteStore(at.path)
          : new PostgresStore(at.url, at.schema ? { schema: at.schema } : {}),
      );
      try {
        await fc.assert(
          fc.asyncProperty(
            fc.array(fc.array(op, { maxLength: 25 }), { minLength: 3, maxLength: 3 }),
            async (plans) => {
              const state = await load(node);
              let writing = true;
              const written = Promise.all(
                plans.map(async (ops, w) => {
                  for (const o of ops) {
                    await apply(writers[w]!, o);
                    await new Promise((r) => setImmediate(r)); // the node catches up between writes too
                  }
                }),
              ).finally(() => {
                writing = false;
              });
              // The node catches up over and over while they write, then once after.
              while (writing) {
                await catchUp(node, state);
                await new Promise((r) => setImmediate(r));
              }
              await written;
              await catchUp(node, state);
              assert.deepEqual(viewOf(state), viewOf(await load(node)));
              assert.equal(state.fullReloads, 0, 'the log named every change');
            },
          ),
          { numRuns: 15 },
        );
      } finally {
        for (const w of writers) await w.close();
        await node.close();
      }
    });
  });
}
