// What a pool is doing and where it is going, for `entente capacity status|forecast`, the admin
// API and the console: utilization (the busiest minute of the last hour against the capacity),
// the share of its models' tokens that spilled elsewhere in the last 24 h, its effective price per
// million tokens this month (the fixed cost so far over the tokens it served), and the forecast
// from four weeks of its per-minute series, with the backtest error beside it. Everything comes
// from the store's per-minute roll-ups, so any node reports the whole fleet.
import { formatMicros, type PriceBooks, priceOf } from '../ledger/index.js';
import type { Store } from '../store/index.js';
import { breakEven, forecast, predict } from './forecast.js';
import type { CapacityPlan, Pool } from './pools.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface CatalogView {
  /** Every deployment key serving the same models as these deployments (pooled or not). */
  siblingsOf(deployments: readonly string[]): string[];
  /** The model and model version a deployment serves. */
  modelOf(deployment: string): { model: string; modelVersion: string } | null;
}

export async function poolStatus(store: Store, pool: Pool, catalog: CatalogView, nowMs: number) {
  const others = catalog.siblingsOf(pool.deployments).filter((d) => !pool.deployments.includes(d));
  // The pool's minutes of the last day give its last hour, its day and its hourly peaks.
  const [dayMinutes, otherMinutes] = await Promise.all([
    store.deploymentTokens(pool.deployments, nowMs - DAY, nowMs),
    others.length === 0 ? Promise.resolve([]) : store.deploymentTokens(others, nowMs - DAY, nowMs),
  ]);
  const sum = (ms: readonly { tokens: number }[]) => ms.reduce((a, p) => a + p.tokens, 0);
  const lastHour = dayMinutes.filter((p) => p.t >= nowMs - HOUR);
  const peak = lastHour.reduce((m, p) => Math.max(m, p.tokens), 0);
  const hourTokens = sum(lastHour);
  const inPool = sum(dayMinutes);
  const spilled = sum(otherMinutes);
  // The busiest minute of each hour of the last day: utilization over time.
  const peaks = new Map<number, number>();
  for (const p of dayMinutes) {
    const h = Math.floor(p.t / HOUR) * HOUR;
    peaks.set(h, Math.max(peaks.get(h) ?? 0, p.tokens));
  }
  const d = new Date(nowMs);
  const monthStart = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const monthEnd = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  const month = await store.deploymentTokens(pool.deployments, monthStart, nowMs);
  const monthTokens = month.reduce((a, p) => a + p.tokens, 0);
  const costSoFar = (pool.fixedMicrosPerMonth * BigInt(nowMs - monthStart)) / BigInt(monthEnd - monthStart);
  return {
    id: pool.id,
    unit: pool.unit,
    size: pool.size,
    deployments: pool.deployments,
    accelerator: pool.accelerator,
    datacenter: pool.datacenter,
    term: {
      from: new Date(pool.fromMs).toISOString(),
      to: pool.toMs === null ? null : new Date(pool.toMs).toISOString(),
    },
    inForce: nowMs >= pool.fromMs && (pool.toMs === null || nowMs < pool.toMs),
    capacityTpm: pool.capacityTpm,
    targetUtilization: pool.targetUtilization,
    admitTpm: pool.admitTpm,
    lastHour: {
      tokens: hourTokens,
      peakMinuteTokens: peak,
      utilization: pool.capacityTpm ? peak / pool.capacityTpm : 0,
    },
    last24h: {
      inPool,
      spilled,
      spillShare: inPool + spilled === 0 ? 0 : spilled / (inPool + spilled),
      hourlyPeakTpm: [...peaks].sort((a, b) => a[0] - b[0]).map(([t, tpm]) => ({ t, tpm })),
    },
    month: {
      tokens: monthTokens,
      fixedCost: formatMicros(pool.fixedMicrosPerMonth),
      costSoFar: formatMicros(costSoFar),
      effectivePerMillion:
        monthTokens === 0 ? null : formatMicros((costSoFar * 1_000_000n) / BigInt(monthTokens)),
    },
  };
}

export async function poolForecast(
  store: Store,
  pool: Pool,
  catalog: CatalogView,
  books: PriceBooks | null,
  nowMs: number,
  horizonWeeks = 12,
) {
  const series = await store.deploymentTokens(pool.deployments, nowMs - 28 * DAY, nowMs);
  if (series.length === 0)
    return { id: pool.id, forecast: null, reason: 'no traffic in the last four weeks' };
  // Minutes without a row served nothing: the series is made whole.
  const full: { t: number; tokens: number }[] = [];
  const byT = new Map(series.map((s) => [s.t, s.tokens]));
  for (let t = series[0]!.t; t < nowMs - 60_000; t += 60_000) full.push({ t, tokens: byT.get(t) ?? 0 });
  const f = forecast(full, pool, nowMs, horizonWeeks);
  const m = catalog.modelOf(pool.deployments[0]!);
  const paygPerMillion = (() => {
    if (!books || !m) return null;
    const others = catalog.siblingsOf(pool.deployments).filter((d) => !pool.deployments.includes(d));
    const prices = others.flatMap((d) => {
      const x = catalog.modelOf(d);
      const e = x ? priceOf(books, x.model, x.modelVersion, nowMs)?.entry : undefined;
      return e ? [(e.inputUncached + e.output) / 2n] : [];
    });
    // biome-ignore lint/complexity/useMathMinMax: bigints (Math.min takes numbers)
    return prices.length ? prices.reduce((a, b) => (a < b ? a : b)) : null;
  })();
  const unitCost = pool.fixedMicrosPerMonth / BigInt(Math.max(1, Math.round(pool.size)));
  const be = paygPerMillion === null ? null : breakEven(unitCost, paygPerMillion);
  return {
    id: pool.id,
    forecast: {
      fromWeeks: Math.round((full.length / (7 * 24 * 60)) * 10) / 10,
      p95NextWeekTpm: Math.round(f.p95NextWeekTpm),
      utilizationNextWeek: f.utilizationNextWeek,
      saturatesAt: f.saturatesAt === null ? null : new Date(f.saturatesAt).toISOString(),
      unitsNeeded: f.unitsNeeded,
      recommendedChange: f.unitsNeeded - Math.ceil(pool.size),
      unit: pool.unit,
      backtestMape: f.backtest?.mape ?? null,
      // The next week, hourly: the fitted demand and its band (the residuals' spread).
      nextWeek: Array.from({ length: 7 * 24 }, (_, h) => {
        const t = Math.floor(nowMs / HOUR) * HOUR + (h + 1) * HOUR;
        return {
          t,
          tpm: Math.round(predict(f.fit, t)),
          low: Math.round(predict(f.fit, t, 0)),
          high: Math.round(predict(f.fit, t, 1)),
        };
      }),
      unitCostPerMonth: formatMicros(unitCost),
      breakEvenTokensPerMonth: be === null ? null : be.toString(),
    },
  };
}

/** The catalog, as the reports need it. */
export function catalogView(
  models: Iterable<{ name: string; deployments: readonly { key: string; modelVersion: string }[] }>,
): CatalogView {
  const list = [...models];
  return {
    siblingsOf: (deployments) =>
      list
        .filter((m) => m.deployments.some((d) => deployments.includes(d.key)))
        .flatMap((m) => m.deployments.map((d) => d.key)),
    modelOf: (key) => {
      for (const m of list) {
        const d = m.deployments.find((x) => x.key === key);
        if (d) return { model: m.name, modelVersion: d.modelVersion };
      }
      return null;
    },
  };
}

/** Status and forecast of every pool. */
export async function capacityReport(
  store: Store,
  plan: CapacityPlan,
  catalog: CatalogView,
  books: PriceBooks | null,
  nowMs: number,
) {
  return Promise.all(
    plan.pools.map(async (p) => ({
      ...(await poolStatus(store, p, catalog, nowMs)),
      ...(await poolForecast(store, p, catalog, books, nowMs)),
    })),
  );
}
