// What the request path formats and counts by hand, for speed, must equal what the generic way
// gives: hex digits (a spool line's checksum, a request id's time), the log's timestamps, and the
// metric series kept per (model, cloud) and rendered into the exposition format.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { hex8, hex12 } from '../src/encoding/index.js';
import { Counter, Histogram, isoTimestamp, RouteSeriesCache } from '../src/observability/index.js';

test('hex8 is toString(16) padded to 8 for every unsigned 32-bit integer', () => {
  for (const n of [0, 1, 15, 16, 255, 256, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 0xdeadbeef])
    assert.equal(hex8(n), n.toString(16).padStart(8, '0'), String(n));
  fc.assert(
    fc.property(fc.nat({ max: 2 ** 32 - 1 }), (n) => hex8(n) === n.toString(16).padStart(8, '0')),
    { numRuns: 2000 },
  );
});

test('hex12 is toString(16) padded to 12 for every input, inside its fast range or not', () => {
  const edges = [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 7, 2 ** 48 - 1, 2 ** 48, 2 ** 53 - 1, Date.now()];
  for (const n of edges) assert.equal(hex12(n), n.toString(16).padStart(12, '0'), String(n));
  // Outside: negatives, fractions, non-finite numbers take toString's answer, whatever it is.
  for (const n of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])
    assert.equal(hex12(n), n.toString(16).padStart(12, '0'), String(n));
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 2 ** 48 - 1 }),
      (n) => hex12(n) === n.toString(16).padStart(12, '0'),
    ),
    { numRuns: 2000 },
  );
});

test('isoTimestamp is toISOString, across seconds, back in time and at the edges', () => {
  const max = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
  for (const ms of [
    0,
    999,
    1000,
    1001,
    59_999,
    60_000,
    max,
    max - 1,
    Date.UTC(2026, 11, 31, 23, 59, 59, 999),
  ])
    assert.equal(isoTimestamp(ms), new Date(ms).toISOString(), String(ms));
  // Outside the cached form (fractions, before 1970, past 9999): toISOString's own answer.
  for (const ms of [0.5, -1, -86_400_001, max + 1, 8.64e15])
    assert.equal(isoTimestamp(ms), new Date(ms).toISOString(), String(ms));
  assert.throws(() => isoTimestamp(Number.NaN), RangeError, 'an invalid time throws as toISOString does');
  // Sequences that stay in a second, move on, and go back (a clock stepped back).
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 4e12 }),
      fc.array(fc.integer({ min: -2500, max: 2500 }), { maxLength: 40 }),
      (start, steps) => {
        let ms = start;
        for (const d of steps) {
          ms = Math.max(0, ms + d);
          if (isoTimestamp(ms) !== new Date(ms).toISOString()) return false;
        }
        return true;
      },
    ),
    { numRuns: 500 },
  );
});

/** name{labels} value lines of an exposition, as a map. */
function samples(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), line.slice(at + 1));
  }
  return out;
}

test('a histogram renders cumulative buckets: each le counts the observations at or under it', () => {
  const bounds = [0.005, 0.01, 0.1, 1, 10];
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.constantFrom(...bounds, 0, 100, Number.NaN, Number.POSITIVE_INFINITY, -1),
          fc.double({ min: -1, max: 20, noNaN: true }),
        ),
        { minLength: 1, maxLength: 60 },
      ),
      (values) => {
        const h = new Histogram('h', 'help', ['k'], bounds);
        for (const v of values) h.observe({ k: 'a' }, v);
        const s = samples(h.render());
        for (const b of bounds) {
          const expect = values.filter((v) => v <= b).length;
          if (Number(s.get(`h_bucket{k="a",le="${b}"}`)) !== expect) return false;
        }
        return (
          Number(s.get('h_bucket{k="a",le="+Inf"}')) === values.length &&
          Number(s.get('h_count{k="a"}')) === values.length
        );
      },
    ),
    { numRuns: 300 },
  );
});

test('series kept per (model, cloud) render exactly as keys built per request, and unused ones not at all', () => {
  const names = ['gpt-4o', 'gpt-4o-mini', '(unknown)'];
  const clouds = ['azure', 'aws', ''];
  const request = fc.record({
    model: fc.constantFrom(...names),
    cloud: fc.constantFrom(...clouds),
    stream: fc.boolean(),
    ok: fc.boolean(),
    tokens: fc.tuple(fc.nat(50), fc.nat(50), fc.nat(50), fc.nat(50)),
    seconds: fc.double({ min: 0, max: 30, noNaN: true }),
  });
  fc.assert(
    fc.property(fc.array(request, { maxLength: 40 }), (reqs) => {
      const buckets = ['input_uncached', 'input_cached', 'output', 'reasoning'] as const;
      const make = () => ({
        requests: new Counter('r', 'h', ['model', 'cloud', 'status', 'code', 'stream']),
        tokens: new Counter('t', 'h', ['model', 'cloud', 'type']),
        duration: new Histogram('d', 'h', ['model', 'cloud'], [0.1, 1, 10]),
      });
      const kept = make();
      const cache = new RouteSeriesCache(kept.requests, kept.tokens, kept.duration);
      const built = make();
      for (const r of reqs) {
        // As countMetrics does it.
        const s = cache.of(r.model, r.cloud);
        if (r.ok) cache.countOk(s, r.stream);
        else kept.requests.incKey(`${r.model}\u0000${r.cloud}\u0000502\u0000upstream_error\u0000${r.stream}`);
        r.tokens.forEach((n, i) => {
          if (n) cache.addTokens(s, i as 0 | 1 | 2 | 3, n);
        });
        s.duration.observe(r.seconds);
        // As a key built per request.
        const status = r.ok ? '200\u0000' : '502\u0000upstream_error';
        built.requests.incKey(`${r.model}\u0000${r.cloud}\u0000${status}\u0000${r.stream}`);
        r.tokens.forEach((n, i) => {
          if (n) built.tokens.incKey(`${r.model}\u0000${r.cloud}\u0000${buckets[i]}`, n);
        });
        built.duration.observeKey(`${r.model}\u0000${r.cloud}`, r.seconds);
      }
      const render = (m: ReturnType<typeof make>) =>
        [m.requests.render(), m.tokens.render(), m.duration.render()].map((t) =>
          [...samples(t)].sort().join('\n'),
        );
      assert.deepEqual(render(kept), render(built));
    }),
    { numRuns: 200 },
  );
});
