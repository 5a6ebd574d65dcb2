// The hostile probe, CI size (2,000 requests; `npm run fuzz` sends 100,000): no gateway 5xx, every
// error answer in the coded JSON shape, no request left hanging, no crash.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzzRun } from './helpers/fuzz-run.js';

test('2,000 hostile requests: no 5xx, every error coded JSON, nothing hanging, no crash', async () => {
  const seed = Math.floor(Math.random() * 100_000);
  const r = await fuzzRun({ requests: 2_000, concurrency: 8, seed });
  const why = `seed ${seed}: ${JSON.stringify({ ...r, gateway5xx: r.gateway5xx.slice(0, 5), notCodedJson: r.notCodedJson.slice(0, 5), hanging: r.hanging.slice(0, 5) })}`;
  assert.equal(r.tried, 2_000, why);
  assert.equal(r.crashed, false, why);
  assert.deepEqual(r.gateway5xx, [], why);
  assert.deepEqual(r.notCodedJson, [], why);
  assert.deepEqual(r.hanging, [], why);
  assert.ok((r.byStatus['200'] ?? 0) > 0 && (r.byStatus['400'] ?? 0) > 0, why);
});
