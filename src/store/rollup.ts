// Per-minute roll-ups of the usage log, maintained on ingest in the same unit of work as the
// records they count (only records newly stored are counted, so a replayed batch counts nothing
// twice): one row per minute × tenant × key × model × cloud × deployment, with requests, errors,
// failovers, tokens, and histograms of latency and gateway overhead. The console and the admin
// API read fleet-wide figures from them, for any window up to months, without scanning records.
import { NestedMap } from '../collections/index.js';
import { keeperOf } from './transfer.js';
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

/**
 * Rows in the order of their key strings, each key built once a row (not once a record, as a
 * map keyed by it would): concurrent writers lock shared rows in this order.
 */
function inKeyOrder<T>(rows: readonly T[], keyOf: (row: T) => string): T[] {
  return rows
    .map((row) => [keyOf(row), row] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(([, row]) => row);
}

function bucketOf(bounds: readonly number[], v: number): number {
  for (let i = 0; i < bounds.length; i++) if (v <= bounds[i]!) return i;
  return bounds.length;
}

/** The roll-up rows of some records (newly stored ones: the caller decides). */
export function rollupOf(records: Iterable<UsageRecord>): MinuteRollup[] {
  // Found by the parts of its primary key (NestedMap), not by a key string built and hashed per
  // record: parts that the table keeps apart stay apart, parts it keeps as one stay one.
  const rows = new NestedMap<MinuteRollup>(6);
  const list: MinuteRollup[] = [];
  for (const r of records) {
    const minuteMs = Math.floor(r.startedAtMs / 60_000) * 60_000;
    const cloud = r.cloud ?? '';
    // The catalog's deployment key (<upstream id>/<deployment>): names repeat across regions.
    const deployment = r.upstreamId && r.deployment ? `${r.upstreamId}/${r.deployment}` : '';
    const keys = [minuteMs, r.tenantId, r.keyId, r.model, cloud, deployment];
    let row = rows.get(keys);
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
      rows.set(keys, row);
      list.push(row);
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
  return inKeyOrder(list, (r) =>
    [r.minuteMs, r.tenantId, r.keyId, r.model, r.cloud, r.deployment].join('\u0000'),
  );
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

/**
 * Booked spend per minute × tenant × key × model × cloud × currency: the receivable of each
 * request's revenue transaction, counted when the transaction is written (in the same unit of
 * work), so budgets reconcile against the ledger without scanning a period's records.
 */
export const SPEND_TABLE = `CREATE TABLE usage_spend (
  minute_ms BIGINT NOT NULL,
  tenant_id TEXT NOT NULL,
  key_id TEXT NOT NULL,
  model TEXT NOT NULL,
  cloud TEXT NOT NULL,
  currency TEXT NOT NULL,
  requests BIGINT NOT NULL,
  micros BIGINT NOT NULL,
  PRIMARY KEY (minute_ms, tenant_id, key_id, model, cloud, currency)
)`;

/**
 * Counts revenue transactions into usage_spend. `source` is a derived table `x(id, currency)` of
 * the revenue transactions to count (this unit of work's); every join from it goes through a
 * primary key (`revenue:<request id>` → the record, substr past the 8-character prefix, which
 * keeps its revenue transaction; or the transaction kept apart, by its id), so the work is
 * proportional to the batch, never to the ledger.
 */
export function spendRollup(source: string): string {
  return `INSERT INTO usage_spend (minute_ms, tenant_id, key_id, model, cloud, currency, requests, micros)
    SELECT (u.started_at_ms / 60000) * 60000, u.tenant_id, u.key_id, u.model, COALESCE(u.cloud, ''), x.currency,
      count(*), SUM(COALESCE(t.amount_micros, u.revenue_micros))
    FROM ${source}
    JOIN usage_records u ON u.request_id = substr(x.id, 9)
    LEFT JOIN ledger_transactions t ON t.tx_id = x.id
    WHERE COALESCE(t.amount_micros, u.revenue_micros) > 0
      AND COALESCE(t.debit_account, u.revenue_debit) = 'receivable:' || u.tenant_id
    GROUP BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (minute_ms, tenant_id, key_id, model, cloud, currency)
    DO UPDATE SET requests = usage_spend.requests + excluded.requests, micros = usage_spend.micros + excluded.micros`;
}

/**
 * The same count as the spend roll-up's backfill migration ran it, over the entries table the
 * ledger had then: a migration's text never changes.
 */
export function spendRollupFromEntries(source: string): string {
  return `INSERT INTO usage_spend (minute_ms, tenant_id, key_id, model, cloud, currency, requests, micros)
    SELECT (u.started_at_ms / 60000) * 60000, u.tenant_id, u.key_id, u.model, COALESCE(u.cloud, ''), x.currency,
      count(*), SUM(e.amount_micros)
    FROM ${source}
    JOIN usage_records u ON u.request_id = substr(x.id, 9)
    JOIN ledger_entries e ON e.tx_id = x.id
    WHERE ('' || e.account) = 'receivable:' || u.tenant_id
    GROUP BY 1, 2, 3, 4, 5, 6
    ON CONFLICT (minute_ms, tenant_id, key_id, model, cloud, currency)
    DO UPDATE SET requests = usage_spend.requests + excluded.requests, micros = usage_spend.micros + excluded.micros`;
}

/** Spend rows computed from this unit of work's transactions and the records in hand. */
export interface SpendAgg {
  readonly key: readonly [number, string, string, string, string, string];
  requests: number;
  micros: bigint;
}

export const SPEND_COLUMNS = [
  'minute_ms',
  'tenant_id',
  'key_id',
  'model',
  'cloud',
  'currency',
  'requests',
  'micros',
];

/** The upsert of spend rows (parameters in SPEND_COLUMNS order; `values` the VALUES tuples). */
export function spendUpsert(values: string): string {
  return `INSERT INTO usage_spend (${SPEND_COLUMNS.join(', ')}) VALUES ${values}
    ON CONFLICT (minute_ms, tenant_id, key_id, model, cloud, currency)
    DO UPDATE SET requests = usage_spend.requests + excluded.requests, micros = usage_spend.micros + excluded.micros`;
}

interface SpendTx {
  readonly txId: string;
  readonly code: string;
  readonly causeId: string | null;
  readonly currency: string;
  readonly entries: readonly { readonly account: string; readonly amountMicros: bigint }[];
}

/**
 * The spend of a unit of work's revenue transactions, tallied as they are written: a record's own
 * revenue whose record is in hand is aggregated in memory (one row per minute × tenant × key ×
 * model × cloud × currency); any other comes back as [tx id, currency] for the SQL roll-up, which
 * reads the record stored earlier. A revenue with no receivable leg (nothing booked) is no spend.
 */
export class SpendTally {
  readonly #rows = new NestedMap<SpendAgg>(6);
  readonly #list: SpendAgg[] = [];
  readonly rest: [string, string][] = [];
  readonly #receivable = new Map<string, string>();
  // The row of the record before: a batch's records mostly fall in the same one, found without
  // building its key.
  #prev: UsageRecord | null = null;
  #prevMinute = 0;
  #prevCurrency = '';
  #prevRow: SpendAgg | null = null;

  /** A revenue transaction whose record is not in hand. */
  apart(tx: SpendTx): void {
    this.rest.push([tx.txId, tx.currency]);
  }

  /** Record r's own revenue transaction (`revenue:<r's id>`). */
  add(r: UsageRecord, tx: SpendTx): void {
    if (tx.entries.length === 0) return; // nothing booked: the SQL roll-up would count nothing
    let account = this.#receivable.get(r.tenantId);
    if (account === undefined) {
      account = `receivable:${r.tenantId}`;
      this.#receivable.set(r.tenantId, account);
    }
    const e = tx.entries.find((x) => x.account === account);
    if (!e) {
      this.apart(tx);
      return;
    }
    const minute = Math.floor(r.startedAtMs / 60_000) * 60_000;
    const prev = this.#prev;
    let row = this.#prevRow;
    if (
      prev === null ||
      row === null ||
      this.#prevMinute !== minute ||
      this.#prevCurrency !== tx.currency ||
      prev.tenantId !== r.tenantId ||
      prev.keyId !== r.keyId ||
      prev.model !== r.model ||
      (prev.cloud ?? '') !== (r.cloud ?? '')
    ) {
      const key = [minute, r.tenantId, r.keyId, r.model, r.cloud ?? '', tx.currency] as const;
      let found = this.#rows.get(key);
      if (found === undefined) {
        found = { key, requests: 0, micros: 0n };
        this.#rows.set(key, found);
        this.#list.push(found);
      }
      row = found;
    }
    row.requests++;
    row.micros += e.amountMicros;
    this.#prev = r;
    this.#prevMinute = minute;
    this.#prevCurrency = tx.currency;
    this.#prevRow = row;
  }

  /** The in-memory rows, in key order: a fleet's writers lock shared rows in the same order. */
  rows(): SpendAgg[] {
    return inKeyOrder(this.#list, (r) => r.key.join('\u0000'));
  }
}

/**
 * The spend of new revenue transactions whose records are in hand (the spool writer's path: the
 * records are stored in the same unit of work), aggregated in memory; the rest (records stored
 * earlier) come back as [tx id, currency] for the SQL roll-up.
 */
export function spendOf(
  txs: readonly SpendTx[],
  records: readonly UsageRecord[],
): { rows: SpendAgg[]; rest: [string, string][] } {
  const byId = new Map(records.map((r) => [r.requestId, r]));
  const tally = new SpendTally();
  for (const tx of txs) {
    if (tx.code !== 'revenue') continue;
    // A request's own revenue transaction (`revenue:<request id>`, caused by it).
    const rid = keeperOf(tx);
    const r = rid === null ? undefined : byId.get(rid);
    if (r) tally.add(r, tx);
    else tally.apart(tx);
  }
  return { rows: tally.rows(), rest: tally.rest };
}

/** The backfill's source: every revenue transaction already written. */
export const ALL_REVENUE = "(SELECT tx_id AS id, currency FROM ledger_transactions WHERE code = 'revenue') x";

/**
 * The spend of a range (minute-aligned), by tenant, key, model, cloud (parameters: since, until),
 * of every key or, with `keysIn` (a condition on key_id), of some.
 */
export function spendSelect(
  since: string,
  until: string,
  micros: string,
  keysIn: string | null = null,
): string {
  return `SELECT tenant_id, key_id, model, NULLIF(cloud, '') AS cloud, currency, ${micros} AS micros, SUM(requests) AS requests
    FROM usage_spend WHERE minute_ms >= ${since} AND minute_ms < ${until}${keysIn ? ` AND ${keysIn}` : ''}
    GROUP BY tenant_id, key_id, model, cloud, currency`;
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

/** The dimensions a spend summary breaks the total down by, with their usage_spend columns. */
export const SPEND_DIMENSIONS = {
  tenant: 'tenant_id',
  key: 'key_id',
  model: 'model',
  cloud: 'cloud',
} as const;

/** How a store's dialect writes the parts of spendSummarySql. */
export interface SpendSummaryDialect {
  /** The parameters: the range [since, until), and the most groups a dimension lists. */
  readonly since: string;
  readonly until: string;
  readonly top: string;
  /** A condition on key_id, or null for every key. */
  readonly keysIn: string | null;
  /** An exact sum as text (no float, no 53-bit limit). */
  text(sum: string): string;
  /** A name column in byte order, so that both stores break ties between equal sums alike. */
  byName(column: string): string;
}

/**
 * The spend of a range in one statement: its total, and per dimension the `top` groups by spend
 * (ties by name) with the number of groups there are. The range's rows are grouped once into a
 * materialized table that every dimension then reads: with 100,000 keys the answer is four short
 * lists and four counts, not a row per key. Rows: (dim, name, micros, requests, groups).
 */
export function spendSummarySql(d: SpendSummaryDialect): string {
  const dims = Object.entries(SPEND_DIMENSIONS).map(
    ([dim, col], i) =>
      `SELECT * FROM (SELECT '${dim}' AS dim, ${col} AS name, ${d.text('SUM(micros)')} AS micros, SUM(requests) AS requests, COUNT(*) OVER () AS groups
        FROM g GROUP BY ${col} ORDER BY SUM(micros) DESC, ${d.byName(col)} LIMIT ${d.top}) d${i}`,
  );
  return `WITH g AS MATERIALIZED (
      SELECT tenant_id, key_id, model, cloud, SUM(micros) AS micros, SUM(requests) AS requests
      FROM usage_spend WHERE minute_ms >= ${d.since} AND minute_ms < ${d.until}${d.keysIn ? ` AND ${d.keysIn}` : ''}
      GROUP BY tenant_id, key_id, model, cloud)
    SELECT 'total' AS dim, '' AS name, ${d.text('COALESCE(SUM(micros), 0)')} AS micros, COALESCE(SUM(requests), 0) AS requests, 1 AS groups FROM g
    ${dims.map((s) => `UNION ALL ${s}`).join('\n    ')}`;
}
