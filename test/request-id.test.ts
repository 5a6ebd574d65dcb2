// Request ids: the server's, never the client's. `req_`, the time in ms as 12 hex digits (so ids
// sort by time), then 80 random bits; unique across many, and across the refills of the random
// bytes they are drawn from.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newRequestId } from '../src/gateway/index.js';

test('request ids: the time, then 80 random bits; none repeats, and they sort by time', () => {
  const t = Date.UTC(2026, 11, 3, 9, 0);
  const ids = Array.from({ length: 10_000 }, (_, i) => newRequestId(t + Math.floor(i / 100)));
  for (const id of ids) assert.match(id, /^req_[0-9a-f]{32}$/);
  assert.equal(ids[0]!.slice(4, 16), t.toString(16).padStart(12, '0'));
  assert.equal(ids.at(-1)!.slice(4, 16), (t + 99).toString(16).padStart(12, '0'));
  // 10,000 ids draw 100,000 random bytes: two dozen refills of the 4 KiB pool.
  assert.equal(new Set(ids).size, ids.length);
  assert.equal(new Set(ids.map((id) => id.slice(16))).size, ids.length, 'the random parts differ too');
  const byTime = [...ids].sort((a, b) => a.slice(4, 16).localeCompare(b.slice(4, 16)));
  assert.deepEqual(
    byTime.map((id) => id.slice(4, 16)),
    ids.map((id) => id.slice(4, 16)),
  );
  // Every hex digit turns up in the random parts: they are not stuck.
  assert.equal(new Set(ids.map((id) => id.slice(16)).join('')).size, 16);
});
