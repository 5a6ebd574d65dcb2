// Per-minute roll-ups of the usage log, maintained on ingest in the same unit of work as the
// records they count (only records newly stored are counted, so a replayed batch counts nothing
// twice): one row per minute × tenant × key × model × cloud × deployment, with requests, errors,
// failovers, tokens, and histograms of latency and gateway overhead. The console and the admin
// API read fleet-wide figures from them, for any window up to months, without scanning records.
import type { TrafficRow, UsageRecord } from './types.js';

/** Upper bounds of the latency buckets, in ms; the last bucket is everything above. */
export const LATENCY_BOUNDS_MS = [10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000];
/** Upper bounds of the gateway-overhead buckets, in µs; the last bucket is everything above. */
export const OVERHEAD_BOUNDS_US = [50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000];

export interface MinuteRollup {
  readonly minuteMs: number;
  readonly tenantId: string;
  readonly keyId: string;
  readonly model: string;
  /** '' when no deployment was reached. */
  readonly cloud: string;
  readonly deployment: string;
  requests: number;
  errors: number;
  failovers: number;
  tokensInput: number;
  tokensOutput: number;
  /** Counts per LATENCY_BOUNDS_MS bucket (one more than the bounds). */
  readonly latency: number[];
  /** Counts per OVERHEAD_BOUNDS_US bucket (one more than the bounds). */
  readonly overhead: number[];
}

const latencyCols = LATENCY_BOUNDS_MS.map((_, i) => `lat${i}`).concat(`lat${LATENCY_BOUNDS_MS.length}`);
const overheadCols = OVERHEAD_BOUNDS_US.map((_, i) => `ovh${i}`).concat(`ovh${OVERHEAD_BOUNDS_US.length}`);
export const rollupKeyColumns = ['minute_ms', 'tenant_id', 'key_id', 'model', 'cloud', 'deployment'];
export const rollupCountColumns = [
  'requests',
  'errors',
  'failovers',
  'tokens_input',
  'tokens_output',
  ...latencyCols,
  ...overheadCols,
];
export const rollupColumns = [...rollupKeyColumns, ...rollupCountColumns];

/** The table, as both stores create it (BIGINT is an integer in SQLite). */
export const ROLLUP_TABLE = `CREATE TABLE usage_minutes (
  ${rollupKeyColumns.map((c) => `${c} ${c === 'minute_ms' ? 'BIGINT' : 'TEXT'} NOT NULL`).join(',\n  ')},
  ${rollupCountColumns.map((c) => `${c} BIGINT NOT NULL DEFAULT 0`).join(',\n  ')},
  PRIMARY KEY (${rollupKeyColumns.join(', ')})
)`;

/** The upsert of one roll-up row: counts add up (parameters in rollupColumns order, `?` or `$n`). */
export function rollupUpsert(placeholders: readonly string[]): string {
  return `INSERT INTO usage_minutes (${rollupColumns.join(', ')}) VALUES (${placeholders.join(', ')})
    ON CONFLICT (${rollupKeyColumns.join(', ')}) DO UPDATE SET ${rollupCountColumns.map((c) => `${c} = usage_minutes.${c} + excluded.${c}`).join(', ')}`;
}

function bucketOf(bounds: readonly number[], v: number): number {
  for (let i = 0; i < bounds.length; i++) if (v <= bounds[i]!) return i;
  return bounds.length;
}

/** The roll-up rows of some records (newly stored ones: the caller decides). */
export function rollupOf(records: Iterable<UsageRecord>): MinuteRollup[] {
  const rows = new Map<string, MinuteRollup>();
  for (const r of records) {
    const minuteMs = Math.floor(r.startedAtMs / 60_000) * 60_000;
    const cloud = r.cloud ?? '';
    // The catalog's deployment key (<upstream id>/<deployment>): names repeat across regions.
    const deployment = r.upstreamId && r.deployment ? `${r.upstreamId}/${r.deployment}` : '';
    const k = `${minuteMs}\u0000${r.tenantId}\u0000${r.keyId}\u0000${r.model}\u0000${cloud}\u0000${deployment}`;
    let row = rows.get(k);
    if (!row) {
      row = {
        minuteMs,
        tenantId: r.tenantId,
        keyId: r.keyId,
        model: r.model,
        cloud,
        deployment,
        requests: 0,
        errors: 0,
        failovers: 0,
        tokensInput: 0,
        tokensOutput: 0,
        latency: new Array(LATENCY_BOUNDS_MS.length + 1).fill(0),
        overhead: new Array(OVERHEAD_BOUNDS_US.length + 1).fill(0),
      };
      rows.set(k, row);
    }
    row.requests++;
    if (r.status >= 400 || r.errorCode !== null) row.errors++;
    if (r.attempts > 1) row.failovers++;
    row.tokensInput += r.tokensInputUncached + r.tokensInputCached;
    row.tokensOutput += r.tokensOutput + r.tokensReasoning;
    row.latency[bucketOf(LATENCY_BOUNDS_MS, r.latencyMs)]!++;
    row.overhead[bucketOf(OVERHEAD_BOUNDS_US, r.overheadUs)]!++;
  }
  // In key order: concurrent writers (a fleet's nodes) then lock shared rows in the same order.
  return [...rows.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([, row]) => row);
}

/** A roll-up row's values in rollupColumns order. */
export function rollupToRow(r: MinuteRollup): (string | number)[] {
  return [
    r.minuteMs,
    r.tenantId,
    r.keyId,
    r.model,
    r.cloud,
    r.deployment,
    r.requests,
    r.errors,
    r.failovers,
    r.tokensInput,
    r.tokensOutput,
    ...r.latency,
    ...r.overhead,
  ];
}

/** SQL that rebuilds the roll-ups of records already stored (the migration's backfill). */
export function rollupBackfill(minuteExpr: string): string {
  const lat = LATENCY_BOUNDS_MS.map(
    (b, i) =>
      `SUM(CASE WHEN latency_ms <= ${b}${i > 0 ? ` AND latency_ms > ${LATENCY_BOUNDS_MS[i - 1]}` : ''} THEN 1 ELSE 0 END)`,
  ).concat(`SUM(CASE WHEN latency_ms > ${LATENCY_BOUNDS_MS.at(-1)} THEN 1 ELSE 0 END)`);
  const ovh = OVERHEAD_BOUNDS_US.map(
    (b, i) =>
      `SUM(CASE WHEN overhead_us <= ${b}${i > 0 ? ` AND overhead_us > ${OVERHEAD_BOUNDS_US[i - 1]}` : ''} THEN 1 ELSE 0 END)`,
  ).concat(`SUM(CASE WHEN overhead_us > ${OVERHEAD_BOUNDS_US.at(-1)} THEN 1 ELSE 0 END)`);
  return `INSERT INTO usage_minutes (${rollupColumns.join(', ')})
    SELECT ${minuteExpr}, tenant_id, key_id, model, COALESCE(cloud, ''), COALESCE(upstream_id || '/' || deployment, ''),
      count(*),
      SUM(CASE WHEN status >= 400 OR error_code IS NOT NULL THEN 1 ELSE 0 END),
      SUM(CASE WHEN attempts > 1 THEN 1 ELSE 0 END),
      SUM(tokens_input_uncached + tokens_input_cached),
      SUM(tokens_output + tokens_reasoning),
      ${lat.join(', ')},
      ${ovh.join(', ')}
    FROM usage_records
    GROUP BY 1, 2, 3, 4, 5, 6`;
}

/** The SELECT of a traffic series (parameters: fromMs, bucketMs, fromMs, toMs). */
export function trafficSelect(p: readonly [string, string, string, string]): string {
  return `SELECT ${p[0]} + ((minute_ms - ${p[0]}) / ${p[1]}) * ${p[1]} AS t, cloud, model,
      ${rollupCountColumns.map((c) => `SUM(${c}) AS ${c}`).join(', ')}
    FROM usage_minutes WHERE minute_ms >= ${p[2]} AND minute_ms < ${p[3]}
    GROUP BY 1, 2, 3 ORDER BY 1`;
}

export function trafficFromRow(row: Record<string, unknown>): TrafficRow {
  const n = (c: string) => Number(row[c] ?? 0);
  return {
    t: n('t'),
    cloud: String(row.cloud),
    model: String(row.model),
    requests: n('requests'),
    errors: n('errors'),
    failovers: n('failovers'),
    tokensInput: n('tokens_input'),
    tokensOutput: n('tokens_output'),
    latency: latencyCols.map(n),
    overhead: overheadCols.map(n),
  };
}
