// The capacity forecast against a series whose truth is known: four weeks of per-minute tokens
// with a daily and a weekly cycle, a trend and noise. The backtest (fit three weeks, forecast the
// fourth) must be within 5% mean absolute percentage error; the date the forecast first passes
// the capacity, about three weeks ahead, within 3 days of the date the noiseless truth does, and
// never after it (the reported date is the upper band's: a date to act before). The model's trend
// is exponential and the truth's linear, so the forecast runs a little early the further it looks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backtest, breakEven, forecast, predict, type SeriesPoint } from '../src/capacity/index.js';
import { seeded } from './helpers/random.js';

const MIN = 60_000;
const START = Date.UTC(2026, 10, 2); // a Monday
const WEEK = 7 * 86_400_000;

/** Tokens per minute at t: 1,000 base, a daily cycle (±40%), weekends at 60%, +3% a week. */
function truth(t: number): number {
  const days = (t - START) / 86_400_000;
  const hourOfDay = (((t / 3_600_000) % 24) + 24) % 24;
  const daily = 1 + 0.4 * Math.sin(((hourOfDay - 9) / 24) * 2 * Math.PI);
  const dow = new Date(t).getUTCDay();
  const weekly = dow === 0 || dow === 6 ? 0.6 : 1;
  return 1_000 * daily * weekly * (1 + 0.03 * (days / 7));
}

function series(weeks: number, noise: number, seed: number): SeriesPoint[] {
  const random = seeded(seed);
  const out: SeriesPoint[] = [];
  for (let t = START; t < START + weeks * WEEK; t += MIN)
    out.push({ t, tokens: Math.max(0, truth(t) * (1 + noise * (2 * random() - 1))) });
  return out;
}

test('backtest on four weeks of daily and weekly seasonality, trend and noise: error under 5%', (t) => {
  for (const seed of [1, 2, 3]) {
    const b = backtest(series(4, 0.15, seed))!;
    assert.ok(b, 'four weeks are enough for a backtest');
    assert.equal(b.hours, 168);
    assert.ok(b.mape < 0.05, `seed ${seed}: MAPE ${(b.mape * 100).toFixed(1)}%`);
    t.diagnostic(`seed ${seed}: backtest MAPE ${(b.mape * 100).toFixed(2)}% over 168 hours`);
  }
  assert.equal(backtest(series(1, 0.1, 1)), null, 'one week cannot be backtested');
});

test('the saturation date against the truth; the size needed follows', (t) => {
  const s = series(4, 0.05, 7);
  const now = START + 4 * WEEK;
  // Capacity 1,700 tokens/min: the weekday peaks (1,400 × trend) pass it some weeks from now.
  const pool = { capacityTpm: 1_700, targetUtilization: 0.9, tokensPerMinutePerUnit: 100 };
  const f = forecast(s, pool, now, 26);
  let truthAt: number | null = null;
  for (let h = 0; h < 26 * 168 && truthAt === null; h++) {
    // The truth's hourly mean (noiseless), against the same capacity.
    let sum = 0;
    for (let m = 0; m < 60; m++) sum += truth(now + h * 3_600_000 + m * MIN);
    if (sum / 60 > pool.capacityTpm) truthAt = now + h * 3_600_000;
  }
  assert.ok(truthAt !== null && f.saturatesAt !== null);
  const offDays = (truthAt! - f.saturatesAt!) / 86_400_000;
  // The upper band (the 95th percentile of the residuals) says it early, never late.
  assert.ok(
    offDays >= 0 && offDays <= 3,
    `forecast ${new Date(f.saturatesAt!).toISOString()}, truth ${new Date(truthAt!).toISOString()}`,
  );
  let central: number | null = null;
  for (let h = 0; h < 26 * 168 && central === null; h++)
    if (predict(f.fit, now + h * 3_600_000) > pool.capacityTpm) central = now + h * 3_600_000;
  assert.ok(
    central !== null && Math.abs(central - truthAt!) <= 3 * 86_400_000,
    `central ${new Date(central ?? 0).toISOString()}`,
  );
  assert.ok(f.unitsNeeded > 17, 'more than the 17 units of 1,700 tokens/min');
  assert.ok(f.utilizationNextWeek > 0.8 && f.utilizationNextWeek < 1);
  t.diagnostic(
    `saturates ${new Date(f.saturatesAt!).toISOString()} (truth ${new Date(truthAt!).toISOString()}, ${offDays.toFixed(2)} days apart); p95 next week ${f.p95NextWeekTpm.toFixed(0)} tokens/min (${(f.utilizationNextWeek * 100).toFixed(1)}%); units needed in 26 weeks ${f.unitsNeeded}; backtest MAPE ${((f.backtest?.mape ?? 0) * 100).toFixed(2)}%`,
  );
});

test('break-even: the tokens a unit must serve a month to cost less than pay-as-you-go', () => {
  // A unit at 260 USD a month against 10 USD per million tokens: 26 million tokens a month.
  assert.equal(breakEven(260_000_000n, 10_000_000n), 26_000_000n);
  assert.equal(breakEven(1n, 0n), null);
});
