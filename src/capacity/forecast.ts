// Capacity forecast, as pure functions over a pool's token series (tokens per minute, from the
// per-minute roll-ups): a linear trend plus an hour-of-week profile of what the trend leaves,
// fitted by least squares on hourly means; an error band from the in-sample residuals; the date
// the forecast's upper band first passes the pool's capacity; the size the next weeks need; and a
// backtest (fit on all but the last week, forecast that week) whose error is published beside
// every forecast.
const HOUR_MS = 3_600_000;
const WEEK_HOURS = 168;

export interface SeriesPoint {
  /** Minute start, epoch ms. */
  readonly t: number;
  /** Tokens in that minute. */
  readonly tokens: number;
}

export interface Fit {
  /** First hour of the fit (epoch ms). */
  readonly originMs: number;
  readonly intercept: number;
  /** Tokens per minute added per hour. */
  readonly slopePerHour: number;
  /** Mean residual of each hour of the week (0 = Monday 00:00 UTC). */
  readonly profile: readonly number[];
  /** 5th and 95th percentiles of the in-sample residuals (tokens per minute). */
  readonly band: readonly [number, number];
  readonly hours: number;
}

/** Hourly means of tokens per minute, from the first full hour to the last. */
export function hourly(series: readonly SeriesPoint[]): { startMs: number; values: number[] } {
  if (series.length === 0) return { startMs: 0, values: [] };
  const startMs = Math.floor(series[0]!.t / HOUR_MS) * HOUR_MS;
  const endMs = Math.floor(series.at(-1)!.t / HOUR_MS) * HOUR_MS + HOUR_MS;
  const sums = new Array<number>((endMs - startMs) / HOUR_MS).fill(0);
  for (const p of series) sums[Math.floor((p.t - startMs) / HOUR_MS)]! += p.tokens;
  return { startMs, values: sums.map((s) => s / 60) };
}

function hourOfWeek(ms: number): number {
  // 1970-01-01 was a Thursday: shift so that 0 is Monday 00:00 UTC.
  return (Math.floor(ms / HOUR_MS) + 72) % WEEK_HOURS;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/**
 * Fits in log space (demand's cycles multiply: a weekend is a share of a weekday, growth scales
 * both), so the model is additive there: ln(1 + y) = a + b·hour + profile[hour of week], trend and
 * profile fitted in turn until they settle (backfitting).
 */
export function fit(series: readonly SeriesPoint[]): Fit {
  const { startMs, values } = hourly(series);
  const logs = values.map((v) => Math.log1p(Math.max(0, v)));
  const n = logs.length;
  const how = logs.map((_, x) => hourOfWeek(startMs + x * HOUR_MS));
  let profile = new Array<number>(WEEK_HOURS).fill(0);
  let intercept = 0;
  let slopePerHour = 0;
  for (let round = 0; round < 4; round++) {
    // Trend of what the profile leaves.
    const meanX = (n - 1) / 2;
    const ys = logs.map((y, x) => y - profile[how[x]!]!);
    const meanY = ys.reduce((s, y) => s + y, 0) / Math.max(1, n);
    let sxy = 0;
    let sxx = 0;
    ys.forEach((y, x) => {
      sxy += (x - meanX) * (y - meanY);
      sxx += (x - meanX) ** 2;
    });
    slopePerHour = sxx === 0 ? 0 : sxy / sxx;
    intercept = meanY - slopePerHour * meanX;
    // Profile of what the trend leaves.
    const sums = new Array<number>(WEEK_HOURS).fill(0);
    const counts = new Array<number>(WEEK_HOURS).fill(0);
    logs.forEach((y, x) => {
      sums[how[x]!]! += y - (intercept + slopePerHour * x);
      counts[how[x]!]!++;
    });
    profile = sums.map((v, h) => (counts[h] ? v / counts[h]! : 0));
  }
  const residuals = logs
    .map((y, x) => y - (intercept + slopePerHour * x + profile[how[x]!]!))
    .sort((a, b) => a - b);
  return {
    originMs: startMs,
    intercept,
    slopePerHour,
    profile,
    band: [quantile(residuals, 0.05), quantile(residuals, 0.95)],
    hours: n,
  };
}

/** The fitted demand (tokens per minute, hourly mean) at an instant; `band` 1 = the upper band. */
export function predict(f: Fit, atMs: number, band: 0 | 1 | null = null): number {
  const x = Math.floor((atMs - f.originMs) / HOUR_MS);
  const log =
    f.intercept + f.slopePerHour * x + f.profile[hourOfWeek(atMs)]! + (band === null ? 0 : f.band[band]);
  return Math.max(0, Math.expm1(log));
}

/** Mean absolute percentage error of the hourly forecast over the last week, fitted on what came before. */
export function backtest(series: readonly SeriesPoint[]): { mape: number; hours: number } | null {
  const { startMs, values } = hourly(series);
  if (values.length < 2 * WEEK_HOURS) return null;
  const cutMs = startMs + (values.length - WEEK_HOURS) * HOUR_MS;
  const f = fit(series.filter((p) => p.t < cutMs));
  let err = 0;
  let n = 0;
  for (let x = values.length - WEEK_HOURS; x < values.length; x++) {
    const actual = values[x]!;
    if (actual <= 0) continue;
    err += Math.abs(predict(f, startMs + x * HOUR_MS) - actual) / actual;
    n++;
  }
  return n === 0 ? null : { mape: err / n, hours: n };
}

export interface Forecast {
  readonly fit: Fit;
  /** The 95th percentile of the forecast's upper band over the next week (tokens per minute). */
  readonly p95NextWeekTpm: number;
  /** Forecast utilization of the capacity at that p95. */
  readonly utilizationNextWeek: number;
  /** The first hour the upper band passes the capacity (null: not within the horizon). */
  readonly saturatesAt: number | null;
  /** Units the pool needs for the p95 of the last week of the horizon at its target utilization. */
  readonly unitsNeeded: number;
  readonly backtest: { mape: number; hours: number } | null;
}

export function forecast(
  series: readonly SeriesPoint[],
  pool: { capacityTpm: number; targetUtilization: number; tokensPerMinutePerUnit: number },
  fromMs: number,
  horizonWeeks = 12,
): Forecast {
  const f = fit(series);
  const upper = (ms: number) => predict(f, ms, 1);
  const week = Array.from({ length: WEEK_HOURS }, (_, h) => upper(fromMs + h * HOUR_MS)).sort(
    (a, b) => a - b,
  );
  const p95NextWeekTpm = quantile(week, 0.95);
  let saturatesAt: number | null = null;
  for (let h = 0; h < horizonWeeks * WEEK_HOURS; h++) {
    const ms = fromMs + h * HOUR_MS;
    if (upper(ms) > pool.capacityTpm) {
      saturatesAt = ms;
      break;
    }
  }
  const lastWeek = Array.from({ length: WEEK_HOURS }, (_, h) =>
    upper(fromMs + ((horizonWeeks - 1) * WEEK_HOURS + h) * HOUR_MS),
  ).sort((a, b) => a - b);
  const unitsNeeded = Math.ceil(
    quantile(lastWeek, 0.95) / (pool.tokensPerMinutePerUnit * pool.targetUtilization),
  );
  return {
    fit: f,
    p95NextWeekTpm,
    utilizationNextWeek: pool.capacityTpm === 0 ? 0 : p95NextWeekTpm / pool.capacityTpm,
    saturatesAt,
    unitsNeeded,
    backtest: backtest(series),
  };
}

/**
 * Whether one more unit pays for itself: it costs `unitMicrosPerMonth`, and saves the pay-as-you-go
 * price of the tokens it would serve instead of spilling. The break-even is the tokens per month a
 * unit must serve: unit cost ÷ pay-as-you-go price per token.
 */
export function breakEven(unitMicrosPerMonth: bigint, paygMicrosPerMillion: bigint): bigint | null {
  if (paygMicrosPerMillion <= 0n) return null;
  return (unitMicrosPerMonth * 1_000_000n) / paygMicrosPerMillion;
}
