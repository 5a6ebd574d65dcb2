// API keys managed live through the admin API: a created key works at once and its secret is
// shown once (never listed, never stored); a rotated key's predecessor works through its grace
// period and not a moment after; a revoked key is refused at once; every change is audited; and
// each malformed request is refused with a coded 400 (or 404 / 409), never a 500.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../src/clock/index.js';
import { API_KEY_CHANGES_KEPT, type ApiKeyChanges } from '../src/store/index.js';
import { raw } from './helpers/backends.js';
import { countCalls, nextTurn } from './helpers/count-calls.js';
import { eventually } from './helpers/eventually.js';
import { DEMO_KEY, type Stack, startStack } from './helpers/stack.js';

const ADMIN_KEY = 'sk-keys-admin';
const clock = new ManualClock(Date.UTC(2026, 11, 1, 12));
let stack: Stack;

async function admin(method: string, path: string, body?: unknown, key = ADMIN_KEY) {
  const r = await fetch(`${stack.url}/v1/entente${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return {
    status: r.status,
    json: (await r.json()) as Record<string, unknown> & { error?: { code: string } },
  };
}

async function chat(key: string): Promise<number> {
  const r = await fetch(`${stack.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
  });
  await r.arrayBuffer();
  return r.status;
}

describe('keys through the admin API', () => {
  before(async () => {
    stack = await startStack({
      server: `  adminKeySha256: ${createHash('sha256').update(ADMIN_KEY).digest('hex')}`,
      clock,
    });
  });
  after(() => stack.close());

  test('a created key works at once; its secret is shown once and never listed', async () => {
    const c = await admin('POST', '/keys', {
      tenant: 'globex',
      id: 'globex-ci',
      models: ['gpt-4o'],
      metadata: { owner: 'ci' },
    });
    assert.equal(c.status, 201);
    const secret = c.json.key as string;
    assert.match(secret, /^sk-ent-[A-Za-z0-9_-]{43}$/);
    assert.equal(await chat(secret), 200);
    const list = await admin('GET', '/keys');
    const text = JSON.stringify(list.json);
    assert.ok(!text.includes(secret), 'the secret is never listed');
    assert.ok(!text.includes(createHash('sha256').update(secret).digest('hex')), 'nor its whole digest');
    const k = (list.json.keys as { id: string; status: string; metadata: unknown }[]).find(
      (x) => x.id === 'globex-ci',
    );
    assert.deepEqual([k?.status, k?.metadata], ['active', { owner: 'ci' }]);
    const audit = await admin('GET', '/audit?action=key.create');
    assert.equal((audit.json.entries as { subject: string }[])[0]?.subject, 'globex-ci');
  });

  test('rotation: both keys work during the grace period; the old one stops at its end', async () => {
    const c = await admin('POST', '/keys', { tenant: 'globex', id: 'rotating' });
    const old = c.json.key as string;
    const r = await admin('POST', '/keys/rotate/rotating', { graceSeconds: 60 });
    assert.equal(r.status, 201);
    assert.equal(r.json.id, 'rotating.r2');
    const fresh = r.json.key as string;
    assert.equal(await chat(old), 200);
    assert.equal(await chat(fresh), 200);
    clock.advance(59_999);
    assert.equal(await chat(old), 200, 'still inside the grace period');
    clock.advance(1);
    assert.equal(await chat(old), 401, 'the grace period is over');
    assert.equal(await chat(fresh), 200);
    const again = await admin('POST', '/keys/rotate/rotating.r2', {});
    assert.equal(again.json.id, 'rotating.r3');
  });

  test('a revoked key is refused at once; revoking twice is a conflict', async () => {
    const c = await admin('POST', '/keys', { tenant: 'globex', id: 'short-lived' });
    const secret = c.json.key as string;
    assert.equal(await chat(secret), 200);
    assert.equal((await admin('POST', '/keys/revoke/short-lived')).status, 200);
    assert.equal(await chat(secret), 401);
    assert.equal((await admin('POST', '/keys/revoke/short-lived')).status, 409);
  });

  test('an expiring key stops at its instant', async () => {
    const at = new Date(clock.now() + 5_000).toISOString();
    const c = await admin('POST', '/keys', { tenant: 'globex', id: 'expiring', expiresAt: at });
    const secret = c.json.key as string;
    assert.equal(await chat(secret), 200);
    clock.advance(5_000);
    assert.equal(await chat(secret), 401);
  });

  test('hostile requests: each refused with a code, never a 500; tenant keys cannot manage keys', async () => {
    const cases: [string, string, unknown, number][] = [
      ['POST', '/keys', { tenant: 'Bad Tenant' }, 400],
      ['POST', '/keys', { tenant: 't', id: '../../etc' }, 400],
      ['POST', '/keys', { tenant: 't', models: [] }, 400],
      ['POST', '/keys', { tenant: 't', models: ['not-in-catalog'] }, 400],
      ['POST', '/keys', { tenant: 't', expiresAt: '2020-01-01T00:00:00Z' }, 400],
      ['POST', '/keys', { tenant: 't', expiresAt: 'soon' }, 400],
      ['POST', '/keys', { tenant: 't', admin: true }, 400],
      [
        'POST',
        '/keys',
        { tenant: 't', metadata: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`k${i}`, 'v'])) },
        400,
      ],
      ['POST', '/keys', { tenant: 't', metadata: { k: 1 } }, 400],
      ['POST', '/keys', [1, 2], 400],
      ['POST', '/keys', { tenant: 'globex', id: 'globex-ci' }, 409],
      ['POST', '/keys/rotate/nope', {}, 404],
      ['POST', '/keys/rotate/globex-ci', { graceSeconds: -1 }, 400],
      ['POST', '/keys/rotate/globex-ci', { graceSeconds: 99_999_999 }, 400],
      ['POST', '/keys/revoke/nope', undefined, 404],
      ['GET', '/keys?limit=0', undefined, 400],
      ['GET', '/keys?limit=1001', undefined, 400],
      ['GET', '/keys?limit=-1', undefined, 400],
      ['GET', '/keys?limit=1.5', undefined, 400],
      ['GET', '/keys?limit=1e2', undefined, 400],
      ['GET', '/keys?limit=abc', undefined, 400],
      ['GET', '/keys?limit=', undefined, 400],
      ['GET', '/keys?limit=00000000001', undefined, 400],
      ['GET', '/keys?after=Bad%20Id', undefined, 400],
      ['GET', `/keys?after=${'a'.repeat(65)}`, undefined, 400],
      ['GET', '/keys?after=', undefined, 400],
    ];
    for (const [method, path, body, status] of cases) {
      const r = await admin(method, path, body);
      assert.equal(r.status, status, `${method} ${path} ${JSON.stringify(body)}`);
      assert.ok(r.json.error?.code, 'a coded error');
    }
    assert.equal((await admin('GET', '/keys', undefined, DEMO_KEY)).status, 401);
  });

  test('keys are listed a page at a time: the pages, one after another, are every key once, in order', async () => {
    const everything = await admin('GET', '/keys?limit=1000');
    const ids = (everything.json.keys as { id: string }[]).map((k) => k.id);
    assert.equal(everything.json.next, null, 'one page holds them all');
    assert.ok(ids.length >= 3);
    assert.equal(((await admin('GET', '/keys')).json.keys as unknown[]).length, Math.min(100, ids.length));
    const paged: string[] = [];
    let after: string | null = null;
    for (let i = 0; i <= ids.length; i++) {
      const p = await admin('GET', `/keys?limit=2${after ? `&after=${after}` : ''}`);
      assert.equal(p.status, 200);
      paged.push(...(p.json.keys as { id: string }[]).map((k) => k.id));
      after = p.json.next as string | null;
      if (after === null) break;
      assert.equal(after, paged.at(-1), 'next is the last id of the page');
    }
    assert.deepEqual(paged, ids);
  });

  test('a key changed in the store by another process is picked up at the next check, read alone', async () => {
    const store = stack.store;
    const reloads = countCalls(store, 'listApiKeys');
    const catchUps = countCalls(store, 'apiKeyChangesSince');
    /** The keys the catch-ups since `from` read. */
    const keysRead = (from: number) =>
      (catchUps.results.slice(from) as (ApiKeyChanges | null)[]).flatMap(
        (c) => c?.keys.map((k) => k.id) ?? [],
      );
    try {
      // Whatever the checks before this test did, the keys are caught up once a check reads none.
      clock.advance(100);
      await eventually(async () => {
        const before = catchUps.results.length;
        clock.advance(100);
        await nextTurn();
        return catchUps.results.length > before && keysRead(before).length === 0;
      }, 'a check that finds the keys unchanged');
      const quiet = catchUps.results.length;
      for (let i = 0; i < 20; i++) {
        clock.advance(100);
        await nextTurn();
      }
      assert.ok(catchUps.results.length >= quiet + 20);
      assert.deepEqual(keysRead(quiet), [], 'twenty checks of unchanged keys read no key');
      // Another process (the CLI, another node) adds a key to the store: no notice reaches this one.
      const secret = 'sk-ent-added-by-another-process-0000000000000000000';
      await store.putApiKey({
        id: 'globex-other',
        tenantId: 'globex',
        sha256: createHash('sha256').update(secret).digest('hex'),
        models: ['*'],
        createdAtMs: clock.now(),
        revokedAtMs: null,
      });
      assert.equal(await chat(secret), 401, 'not before the next check');
      clock.advance(100);
      await eventually(async () => (await chat(secret)) === 200, 'the added key to work after a check');
      assert.deepEqual(keysRead(quiet), ['globex-other'], 'the one key that changed, read once');
      await store.revokeApiKey('globex-other', clock.now());
      clock.advance(100);
      await eventually(
        async () => (await chat(secret)) === 401,
        'the revoked key to be refused after a check',
      );
      assert.deepEqual(keysRead(quiet), ['globex-other', 'globex-other']);
      assert.equal(await chat(DEMO_KEY), 200, 'the keys no change touched still work');
      assert.equal(reloads.count, 0, 'no change made the node read every key');
    } finally {
      reloads.restore();
      catchUps.restore();
    }
  });

  test('a node further behind than the change log keeps reads every key again', async () => {
    const reloads = countCalls(stack.store, 'listApiKeys');
    try {
      // One statement adds more keys than the log keeps versions of: the log cannot list them.
      const n = API_KEY_CHANGES_KEPT + 1;
      const db = await raw(stack.store);
      await db.exec(`INSERT INTO api_keys (id, tenant_id, sha256, models, created_at_ms, revoked_at_ms)
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${n})
        SELECT 'bulk-' || i, 'globex', printf('%064x', i), '["*"]', 1, NULL FROM n`);
      await db.close();
      const secret = 'bulk-secret-known-to-no-one-but-this-test';
      await stack.store.putApiKey({
        id: 'bulk-last',
        tenantId: 'globex',
        sha256: createHash('sha256').update(secret).digest('hex'),
        models: ['*'],
        createdAtMs: clock.now(),
        revokedAtMs: null,
      });
      clock.advance(100);
      await eventually(async () => (await chat(secret)) === 200, 'the last key to work after a check');
      assert.equal(reloads.count, 1, 'one full reload');
      assert.equal(await chat(DEMO_KEY), 200);
    } finally {
      reloads.restore();
    }
  });
});

describe('a node just started', () => {
  test('does not reload its keys at its first checks: it read their version with them', async () => {
    const fresh = new ManualClock(Date.UTC(2026, 11, 1, 12));
    const s = await startStack({ clock: fresh });
    try {
      const reads = countCalls(s.store, 'listApiKeys');
      for (let i = 0; i < 5; i++) {
        fresh.advance(100);
        await nextTurn();
      }
      reads.restore();
      assert.equal(reads.count, 0);
    } finally {
      await s.close();
    }
  });
});
