// Open-loop load at a fixed rate: requests are sent on a schedule whatever the answers do, and
// latency is measured from the scheduled instant (no coordinated omission). Prints JSON with
// percentiles in microseconds of the full response and of the first body byte, and with
// FIXED_RATE_SAMPLES=1 every sample (bench/paired.ts pools them over rounds).
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { benchBody, percentile as pct } from './processes.js';

const [url, rateArg, secondsArg, streamArg, headersArg] = process.argv.slice(2);
const rate = Number(rateArg);
const seconds = Number(secondsArg);
const stream = streamArg === 'stream';
const extraHeaders = JSON.parse(headersArg ?? '{}') as Record<string, string>;
const u = new URL(url!);
const pool = new Pool(u.origin, { connections: 128, pipelining: 1 });
const body = benchBody(stream);
const headers = { 'content-type': 'application/json', authorization: 'Bearer sk-bench', ...extraHeaders };

const total: number[] = [];
const first: number[] = [];
let errors = 0;

async function one(scheduled: number): Promise<void> {
  try {
    const r = await pool.request({ method: 'POST', path: u.pathname, headers, body });
    let firstAt = 0;
    for await (const c of r.body) {
      if (!firstAt && c.length) firstAt = performance.now();
    }
    const end = performance.now();
    if (r.statusCode !== 200) errors++;
    else {
      total.push((end - scheduled) * 1000);
      first.push((firstAt - scheduled) * 1000);
    }
  } catch {
    errors++;
  }
}

// Warm the pool's connections first.
await Promise.all(Array.from({ length: 16 }, () => one(performance.now())));
total.length = 0;
first.length = 0;
errors = 0;

const n = Math.round(rate * seconds);
const start = performance.now() + 10;
const pending: Promise<void>[] = [];
for (let i = 0; i < n; i++) {
  const at = start + (i * 1000) / rate;
  const wait = at - performance.now();
  if (wait > 1) await new Promise((r) => setTimeout(r, wait - 0.5));
  while (performance.now() < at) {
    /* spin the last half millisecond for an exact schedule */
  }
  pending.push(one(at));
}
await Promise.all(pending);
await pool.close();
process.stdout.write(
  `${JSON.stringify({
    rate,
    requests: total.length,
    errors,
    p50Us: pct(total, 50),
    p99Us: pct(total, 99),
    ttfbP50Us: pct(first, 50),
    ttfbP99Us: pct(first, 99),
    ...(process.env.FIXED_RATE_SAMPLES === '1'
      ? { totalUs: total.map(Math.round), firstUs: first.map(Math.round) }
      : {}),
  })}\n`,
);
