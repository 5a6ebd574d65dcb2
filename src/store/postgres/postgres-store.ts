// The cluster store: PostgreSQL through node-postgres (pg), shared by several gateway nodes.
// Usage appends are one multi-row INSERT per batch, idempotent on request_id.
import pg from 'pg';
import { systemClock } from '../../clock/index.js';
import {
  API_KEY_CHANGES_KEPT,
  API_KEY_CHANGES_TABLE,
  API_KEYS_VERSION_SELECT,
  API_KEYS_VERSION_TABLE,
  BUMP_API_KEYS_VERSION,
  changedKeyIds,
  keyChanges,
  SHARED_MIGRATIONS,
} from '../migrations.js';
import {
  rollupColumns,
  rollupOf,
  rollupToRow,
  rollupUpsert,
  SPEND_COLUMNS,
  spendOf,
  spendRollup,
  spendSelect,
  spendSummarySql,
  spendUpsert,
  trafficFromRow,
  trafficSelect,
} from '../rollup.js';
import {
  auditFromRow,
  KEY_COLUMNS,
  keyFromRow,
  keyToRow,
  ledgerRowFromDb,
  nodeFromRow,
  spendFromRow,
  spendSummaryFromRows,
  usageColumnPgTypes,
  usageColumns,
  usageFromRow,
  usageToRow,
} from '../rows.js';
import {
  ENTRIES_VIEW,
  type IdSets,
  isRowPayload,
  keeperOf,
  type LedgerFilters,
  ledgerRowsSql,
  planStatuses,
  REVENUE_COLUMN_PG_TYPES,
  REVENUE_COLUMNS,
  REVENUE_PAYLOAD,
  REVENUE_SHAPE,
  receivableTotalsSql,
  revenueColumnsOf,
  revenueKeptTwice,
  rowPayloadApart,
  TRANSFER_CHECK,
  TRANSFER_COLUMNS,
  TRANSFER_INDEXES,
  TRANSFERS_ENTRIES_VIEW,
  transferRowOf,
} from '../transfer.js';
import type {
  ApiKeyChanges,
  ApiKeyRecord,
  AuditEntry,
  KeyPage,
  LedgerRow,
  NewAuditEntry,
  NodeRecord,
  PostingPlan,
  PostingView,
  PostLedgerOptions,
  SpendRow,
  SpendSummary,
  SpendSummaryQuery,
  Store,
  StoredAccrual,
  StoredRolloutEvent,
  StoredTx,
  StoreLocation,
  TrafficRow,
  UsageQuery,
  UsageRecord,
} from '../types.js';
import { ColumnLiterals, columnLiterals } from './array-literal.js';

const migrations: readonly string[] = [
  `CREATE TABLE usage_records (
     seq BIGSERIAL NOT NULL,
     request_id TEXT PRIMARY KEY,
     tenant_id TEXT NOT NULL,
     key_id TEXT NOT NULL,
     model TEXT NOT NULL,
     model_version TEXT,
     cloud TEXT,
     region TEXT,
     upstream_id TEXT,
     deployment TEXT,
     stream SMALLINT NOT NULL,
     status INTEGER NOT NULL,
     error_code TEXT,
     usage_exact SMALLINT NOT NULL,
     attempts INTEGER NOT NULL,
     tokens_input_uncached BIGINT NOT NULL,
     tokens_input_cached BIGINT NOT NULL,
     tokens_output BIGINT NOT NULL,
     tokens_reasoning BIGINT NOT NULL,
     started_at_ms BIGINT NOT NULL,
     latency_ms BIGINT NOT NULL,
     overhead_us BIGINT NOT NULL
   );
   CREATE INDEX usage_records_seq ON usage_records (seq);
   CREATE INDEX usage_records_tenant ON usage_records (tenant_id, seq);
   CREATE TABLE api_keys (
     id TEXT PRIMARY KEY,
     tenant_id TEXT NOT NULL,
     sha256 TEXT NOT NULL UNIQUE,
     models TEXT NOT NULL,
     created_at_ms BIGINT NOT NULL,
     revoked_at_ms BIGINT
   );`,
  `CREATE TABLE rollout_events (
     seq BIGSERIAL PRIMARY KEY,
     payload JSONB NOT NULL,
     recorded_at_ms BIGINT NOT NULL
   );`,
  `ALTER TABLE usage_records ADD COLUMN ledger_status SMALLINT NOT NULL DEFAULT 0;
   CREATE INDEX usage_records_pending ON usage_records (ledger_status, seq);
   CREATE TABLE ledger_transactions (
     tx_id TEXT PRIMARY KEY,
     code TEXT NOT NULL,
     payload_hash TEXT NOT NULL,
     effective_at_ms BIGINT NOT NULL,
     period TEXT NOT NULL,
     cause_id TEXT,
     currency TEXT NOT NULL,
     recorded_at_ms BIGINT NOT NULL
   );
   CREATE TABLE ledger_entries (
     tx_id TEXT NOT NULL REFERENCES ledger_transactions (tx_id),
     idx INTEGER NOT NULL,
     account TEXT NOT NULL,
     amount_micros BIGINT NOT NULL,
     period TEXT NOT NULL,
     PRIMARY KEY (tx_id, idx)
   );
   CREATE INDEX ledger_entries_account ON ledger_entries (account, period);
   CREATE TABLE accrual_states (term_id TEXT PRIMARY KEY, revenue_micros BIGINT NOT NULL, accrued_micros BIGINT NOT NULL);
   CREATE TABLE ledger_periods (period TEXT PRIMARY KEY, closed_at_ms BIGINT NOT NULL);`,
  `ALTER TABLE usage_records ADD COLUMN surface TEXT NOT NULL DEFAULT 'chat';
   ALTER TABLE accrual_states ADD COLUMN remainder_pico BIGINT NOT NULL DEFAULT 0;
   CREATE TABLE audit_log (
     seq BIGSERIAL PRIMARY KEY,
     at_ms BIGINT NOT NULL,
     actor TEXT NOT NULL,
     action TEXT NOT NULL,
     subject TEXT NOT NULL,
     detail TEXT NOT NULL
   );
   CREATE INDEX audit_log_subject ON audit_log (subject, seq);
   CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS
     $$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
   CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
     FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
   CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
     FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();`,
  ...SHARED_MIGRATIONS,
  // Last: each transaction becomes one row with both legs (src/store/transfer.ts); the
  // entries table becomes a view of the legs. Pending usage is indexed alone, so a record stored
  // already posted costs no index entry.
  `ALTER TABLE ledger_transactions
     ADD COLUMN debit_account TEXT,
     ADD COLUMN credit_account TEXT,
     ADD COLUMN amount_micros BIGINT NOT NULL DEFAULT 0;
   UPDATE ledger_transactions t SET debit_account = d.account, credit_account = c.account, amount_micros = d.amount_micros
     FROM ledger_entries d JOIN ledger_entries c ON c.tx_id = d.tx_id AND c.amount_micros < 0
     WHERE d.tx_id = t.tx_id AND d.amount_micros > 0;
   DO $$ BEGIN
     IF (SELECT count(*) FROM ledger_entries WHERE amount_micros <> 0) <> 2 * (SELECT count(*) FROM ledger_transactions WHERE amount_micros > 0)
       OR EXISTS (SELECT 1 FROM ledger_entries e JOIN ledger_transactions x ON x.tx_id = e.tx_id
         WHERE e.amount_micros <> 0 AND NOT ((e.account = x.debit_account AND e.amount_micros = x.amount_micros)
           OR (e.account = x.credit_account AND e.amount_micros = -x.amount_micros)))
     THEN RAISE EXCEPTION 'the ledger has a transaction that is not one transfer of two legs; nothing was migrated';
     END IF;
   END $$;
   DROP TABLE ledger_entries;
   ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transfer ${TRANSFER_CHECK};
   ${TRANSFER_INDEXES};
   ${TRANSFERS_ENTRIES_VIEW};
   DROP INDEX usage_records_pending;
   CREATE INDEX usage_records_pending ON usage_records (seq) WHERE ledger_status = 0;`,
  // Then: a request's revenue transaction is kept in its usage record's row (src/store/transfer.ts);
  // those already posted move there. Once kept, it never changes (a replay's reset clears it).
  `ALTER TABLE usage_records ${REVENUE_COLUMNS.map((c) => `ADD COLUMN ${c} ${REVENUE_COLUMN_PG_TYPES[c].toUpperCase()}`).join(', ')};
   UPDATE usage_records AS u SET revenue_hash = t.payload_hash, revenue_effective_at_ms = t.effective_at_ms,
     revenue_period = t.period, revenue_currency = t.currency, revenue_recorded_at_ms = t.recorded_at_ms,
     revenue_capacity = t.capacity, revenue_debit = t.debit_account, revenue_credit = t.credit_account,
     revenue_micros = t.amount_micros
   FROM ledger_transactions t WHERE t.tx_id = 'revenue:' || u.request_id AND t.code = 'revenue';
   DELETE FROM ledger_transactions t USING usage_records u WHERE t.code = 'revenue' AND u.request_id = substr(t.tx_id, 9);
   ALTER TABLE usage_records ADD CONSTRAINT usage_revenue_shape CHECK ${REVENUE_SHAPE};
   CREATE FUNCTION usage_revenue_fixed() RETURNS trigger LANGUAGE plpgsql AS
     $$ BEGIN RAISE EXCEPTION 'a posted revenue transaction never changes'; END $$;
   CREATE TRIGGER usage_revenue_fixed BEFORE UPDATE OF ${REVENUE_COLUMNS.join(', ')} ON usage_records
     FOR EACH ROW WHEN (OLD.revenue_hash IS NOT NULL AND NEW.revenue_hash IS NOT NULL)
     EXECUTE FUNCTION usage_revenue_fixed();
   DROP VIEW ledger_entries;
   ${ENTRIES_VIEW};`,
  // Then: a counter every change to the API keys moves (src/store/types.ts apiKeysVersion). The
  // trigger's update of its one row also orders the nodes' key changes: each waits for the one
  // before it to commit.
  `${API_KEYS_VERSION_TABLE};
   CREATE FUNCTION api_keys_changed() RETURNS trigger LANGUAGE plpgsql AS
     $$ BEGIN ${BUMP_API_KEYS_VERSION}; RETURN NULL; END $$;
   CREATE TRIGGER api_keys_changed AFTER INSERT OR UPDATE OR DELETE ON api_keys
     FOR EACH ROW EXECUTE FUNCTION api_keys_changed();
   CREATE TRIGGER api_keys_truncated AFTER TRUNCATE ON api_keys
     FOR EACH STATEMENT EXECUTE FUNCTION api_keys_changed();`,
  // Then: which key each version changed, so a node reads only those (src/store/types.ts
  // apiKeyChangesSince). A truncate logs a row that names no key: every node reads every key.
  `${API_KEY_CHANGES_TABLE};
   CREATE OR REPLACE FUNCTION api_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
   DECLARE v BIGINT;
   BEGIN
     ${BUMP_API_KEYS_VERSION} RETURNING version INTO v;
     IF TG_LEVEL = 'STATEMENT' THEN
       INSERT INTO api_key_changes (version, key_id) VALUES (v, NULL);
     ELSIF TG_OP = 'DELETE' THEN
       INSERT INTO api_key_changes (version, key_id) VALUES (v, OLD.id);
     ELSE
       INSERT INTO api_key_changes (version, key_id) VALUES (v, NEW.id);
       IF TG_OP = 'UPDATE' AND OLD.id <> NEW.id THEN
         INSERT INTO api_key_changes (version, key_id) VALUES (v, OLD.id);
       END IF;
     END IF;
     DELETE FROM api_key_changes WHERE version <= v - ${API_KEY_CHANGES_KEPT};
     RETURN NULL;
   END $$;`,
];

/** The newest schema version: the migrations both stores have (the two are equal). */
export const POSTGRES_SCHEMA_VERSION = migrations.length;

const ROLLOUT_LOCK = 7_160_002; // serialises rollout appends across nodes
const PERIOD_LOCK = 7_160_003; // postings share it; closing a period takes it alone

const MIGRATION_LOCK = 7_160_001; // pg_advisory_xact_lock key: one migrator at a time across nodes

/** `$1::text[], $2::text[], …`: usage_records' columns (and ledger_status) as arrays for unnest. */
const USAGE_UNNEST = [
  ...usageColumns.map((c) => usageColumnPgTypes[c]),
  'smallint',
  ...REVENUE_COLUMNS.map((c) => REVENUE_COLUMN_PG_TYPES[c]),
]
  .map((t, i) => `$${i + 1}::${t}[]`)
  .join(', ');

/** PostgreSQL's "one of the ids": a text array bound as $1. */
const PG_ID_SETS: IdSets = {
  txIds: (column) => `${column} = ANY($1::text[])`,
  requestIds: (column) =>
    `${column} = ANY(ARRAY(SELECT substr(x, 9) FROM unnest($1::text[]) AS x WHERE x LIKE 'revenue:%'))`,
};

/**
 * The records' own columns as array literals, flattened: V8 builds a long string by concatenation
 * as a tree of pieces, and measuring its UTF-8 length copies it into one piece, so that sending it
 * later is a plain copy.
 */
function usageLiterals(records: readonly UsageRecord[]): string[] {
  const columns = new ColumnLiterals(usageColumns.length);
  for (const r of records) columns.add(usageToRow(r));
  const literals = columns.literals();
  for (const l of literals) Buffer.byteLength(l);
  return literals;
}

const INSERT_USAGE = `INSERT INTO usage_records (${[...usageColumns, 'ledger_status', ...REVENUE_COLUMNS].join(', ')})`;

/**
 * The payload hash of each of the ids $1 that is a transaction already, wherever it is kept (as
 * existingSql), and which of the request ids $2 are stored (a null hash: stored, keeping no revenue).
 */
const EXISTING_AND_STORED = `SELECT tx_id, payload_hash, FALSE AS stored FROM ledger_transactions WHERE tx_id = ANY($1::text[])
  UNION ALL
  SELECT 'revenue:' || request_id, ${REVENUE_PAYLOAD}, TRUE FROM usage_records WHERE request_id = ANY($2::text[])`;

/** Keeps revenue transactions in records stored earlier (never over one kept): the ids it kept. */
const KEEP_REVENUE = `UPDATE usage_records u SET ${REVENUE_COLUMNS.map((c) => `${c} = v.${c}`).join(', ')}
  FROM unnest($1::text[], ${REVENUE_COLUMNS.map((c, i) => `$${i + 2}::${REVENUE_COLUMN_PG_TYPES[c]}[]`).join(', ')})
    AS v(request_id, ${REVENUE_COLUMNS.join(', ')})
  WHERE u.request_id = v.request_id AND u.revenue_hash IS NULL
  RETURNING u.request_id`;

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;
  readonly location: StoreLocation;

  constructor(connectionString: string, opts: { schema?: string; maxConnections?: number } = {}) {
    this.location = {
      kind: 'postgres',
      url: connectionString,
      ...(opts.schema ? { schema: opts.schema } : {}),
    };
    this.#pool = new pg.Pool({
      connectionString,
      max: opts.maxConnections ?? 10,
      // A frozen or unreachable server fails calls instead of hanging them: callers retry (the
      // usage writer) or answer with what they have (/metrics).
      connectionTimeoutMillis: 10_000,
      query_timeout: 60_000,
      ...(opts.schema ? { options: `-c search_path=${opts.schema}` } : {}),
    });
    // An idle connection breaks when the server restarts or goes away. pg reports it as an
    // 'error' event, which would crash the process unhandled; the next query reconnects, and a
    // query that fails is reported to its caller (the usage writer retries).
    this.#pool.on('error', () => {});
    // A checked-out connection that breaks between two queries of a transaction (the server
    // crashed while the usage writer was planning) also emits 'error', and the pool's listener
    // covers only idle ones: without this one, that would kill the writer thread. The next query
    // on it fails, the transaction is rolled back or lost with the connection, and the caller retries.
    this.#pool.on('connect', (client) => {
      client.on('error', () => {});
    });
  }

  async migrate(opts: { readonly toVersion?: number } = {}): Promise<void> {
    const last = Math.min(opts.toVersion ?? migrations.length, migrations.length);
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await client.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at_ms BIGINT NOT NULL)',
      );
      const { rows } = await client.query<{ v: number | null }>(
        'SELECT max(version) AS v FROM schema_migrations',
      );
      for (let v = (rows[0]?.v ?? 0) + 1; v <= last; v++) {
        await client.query(migrations[v - 1]!);
        await client.query('INSERT INTO schema_migrations (version, applied_at_ms) VALUES ($1, $2)', [
          v,
          systemClock.now(),
        ]);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK');
      throw err;
    } finally {
      client.release();
    }
  }

  async appendUsage(records: readonly UsageRecord[]): Promise<void> {
    if (records.length === 0) return;
    // The records and their roll-ups in one transaction: both or neither.
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      await this.#insertUsage(client, records, null);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** Counts newly stored records into the per-minute roll-ups (inside the caller's transaction). */
  async #rollUp(client: pg.PoolClient, stored: readonly UsageRecord[]): Promise<void> {
    const rows = rollupOf(stored);
    const n = rollupColumns.length;
    const per = Math.floor(65_535 / n);
    for (let i = 0; i < rows.length; i += per) {
      const slice = rows.slice(i, i + per);
      const values = slice.flatMap(rollupToRow);
      const tuples = slice.map((_, j) => `(${rollupColumns.map((_c, k) => `$${j * n + k + 1}`).join(', ')})`);
      await client.query(rollupUpsert(['__VALUES__']).replace('(__VALUES__)', tuples.join(', ')), values);
    }
  }

  async deploymentTokens(deployments: readonly string[], fromMs: number, toMs: number) {
    const { rows } = await this.#pool.query<{ t: string; tokens: string }>(
      `SELECT minute_ms AS t, SUM(tokens_input + tokens_output) AS tokens FROM usage_minutes
       WHERE deployment = ANY($1) AND minute_ms >= $2 AND minute_ms < $3
       GROUP BY minute_ms ORDER BY minute_ms`,
      [deployments, fromMs, toMs],
    );
    return rows.map((r) => ({ t: Number(r.t), tokens: Number(r.tokens) }));
  }

  async trafficSeries(fromMs: number, toMs: number, bucketMs: number): Promise<TrafficRow[]> {
    const { rows } = await this.#pool.query(
      trafficSelect(['$1::bigint', '$2::bigint', '$1::bigint', '$3::bigint']),
      [fromMs, bucketMs, toMs],
    );
    return rows.map((r) => trafficFromRow(r as Record<string, unknown>));
  }

  async listUsage(query: UsageQuery = {}): Promise<UsageRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (query.tenantId) {
      args.push(query.tenantId);
      where.push(`tenant_id = $${args.length}`);
    }
    if (query.requestId) {
      args.push(query.requestId);
      where.push(`request_id = $${args.length}`);
    }
    if (query.sinceMs !== undefined) {
      args.push(query.sinceMs);
      where.push(`started_at_ms >= $${args.length}`);
    }
    args.push(query.limit ?? 100);
    const { rows } = await this.#pool.query(
      `SELECT ${usageColumns.join(', ')} FROM usage_records ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT $${args.length}`,
      args,
    );
    return rows.map(usageFromRow);
  }

  async countUsage(): Promise<number> {
    const { rows } = await this.#pool.query<{ n: string }>('SELECT count(*) AS n FROM usage_records');
    return Number(rows[0]!.n);
  }

  async putApiKey(key: ApiKeyRecord): Promise<void> {
    await this.#pool.query(
      `INSERT INTO api_keys (${KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       ON CONFLICT (id) DO UPDATE SET tenant_id = excluded.tenant_id, sha256 = excluded.sha256, models = excluded.models, revoked_at_ms = excluded.revoked_at_ms, expires_at_ms = excluded.expires_at_ms, metadata = excluded.metadata, limits = excluded.limits`,
      keyToRow(key),
    );
  }

  async insertApiKey(key: ApiKeyRecord): Promise<boolean> {
    const r = await this.#pool.query(
      `INSERT INTO api_keys (${KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING`,
      keyToRow(key),
    );
    return (r.rowCount ?? 0) > 0;
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | null> {
    const { rows } = await this.#pool.query('SELECT * FROM api_keys WHERE id = $1', [id]);
    return rows.length === 0 ? null : keyFromRow(rows[0]);
  }

  async revokeApiKey(id: string, atMs: number): Promise<boolean> {
    const r = await this.#pool.query(
      'UPDATE api_keys SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL',
      [atMs, id],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async listApiKeyIds(prefix: string): Promise<string[]> {
    const { rows } = await this.#pool.query<{ id: string }>(
      'SELECT id FROM api_keys WHERE substr(id, 1, $1) = $2 ORDER BY id',
      [prefix.length, prefix],
    );
    return rows.map((r) => r.id);
  }

  async apiKeyChangesSince(version: number): Promise<ApiKeyChanges | null> {
    // One statement, so one snapshot: the version and the log rows it names.
    const { rows } = await this.#pool.query<{
      current: string;
      version: string | null;
      key_id: string | null;
    }>(
      `SELECT v.version AS current, c.version, c.key_id FROM api_keys_version v
         LEFT JOIN api_key_changes c ON c.version > $1 WHERE v.id = 1`,
      [version],
    );
    const current = Number(rows[0]!.current);
    if (current === version) return { version, keys: [], removed: [] };
    const log = rows
      .filter((r) => r.version !== null)
      .map((r) => ({ version: Number(r.version), keyId: r.key_id }));
    const ids = changedKeyIds(version, current, log);
    if (!ids) return null;
    // A key read here may be newer than `current`: its later change is read again next time.
    const found = await this.#pool.query('SELECT * FROM api_keys WHERE id = ANY($1::text[])', [ids]);
    return keyChanges(current, ids, found.rows.map(keyFromRow));
  }

  async listApiKeys(page: KeyPage = {}): Promise<ApiKeyRecord[]> {
    const { rows } = await this.#pool.query('SELECT * FROM api_keys WHERE id > $1 ORDER BY id LIMIT $2', [
      page.after ?? '',
      page.limit ?? null,
    ]);
    return rows.map(keyFromRow);
  }

  async apiKeysVersion(): Promise<number> {
    const { rows } = await this.#pool.query<{ version: string }>(API_KEYS_VERSION_SELECT);
    return Number(rows[0]!.version);
  }

  async appendRolloutEvent<R>(
    payload: unknown,
    check: (log: readonly StoredRolloutEvent[]) => R | null,
  ): Promise<{ seq: number } | { refused: R }> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [ROLLOUT_LOCK]);
      const { rows } = await client.query<{ seq: string; payload: unknown }>(
        'SELECT seq, payload FROM rollout_events ORDER BY seq',
      );
      const refused = check(rows.map((r) => ({ seq: Number(r.seq), payload: r.payload })));
      if (refused !== null) {
        await client.query('ROLLBACK');
        return { refused };
      }
      const ins = await client.query<{ seq: string }>(
        'INSERT INTO rollout_events (payload, recorded_at_ms) VALUES ($1, $2) RETURNING seq',
        [JSON.stringify(payload), systemClock.now()],
      );
      await client.query('COMMIT');
      return { seq: Number(ins.rows[0]!.seq) };
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async lastRolloutSeq(): Promise<number> {
    const { rows } = await this.#pool.query<{ seq: string }>(
      'SELECT COALESCE(max(seq), 0) AS seq FROM rollout_events',
    );
    return Number(rows[0]!.seq);
  }

  async listRolloutEvents(afterSeq = 0): Promise<StoredRolloutEvent[]> {
    const { rows } = await this.#pool.query<{ seq: string; payload: unknown }>(
      'SELECT seq, payload FROM rollout_events WHERE seq > $1 ORDER BY seq',
      [afterSeq],
    );
    return rows.map((r) => ({ seq: Number(r.seq), payload: r.payload }));
  }

  /** Batches encoded ahead (encodeUsage), by identity: a batch that changes is encoded anew. */
  readonly #encoded = new WeakMap<readonly UsageRecord[], readonly string[]>();

  /**
   * Encodes a batch's own columns for postLedger ahead of its unit of work, so that a pipeline does
   * it while the database writes the batch before (postUsageBatches).
   */
  encodeUsage(records: readonly UsageRecord[]): void {
    this.#encoded.set(records, usageLiterals(records));
  }

  async postLedger(
    txIds: readonly string[],
    termIds: readonly string[],
    plan: (view: PostingView) => PostingPlan,
    totalsFor: readonly string[] = [],
    insertUsage: readonly UsageRecord[] = [],
    opts: PostLedgerOptions = {},
  ): Promise<void> {
    // Called at most once, whichever attempt gets there first.
    let whileWriting = opts.whileWriting;
    const once = () => {
      const f = whileWriting;
      whileWriting = undefined;
      f?.();
    };
    // A unique violation means another node posted the same usage between our read and our
    // write: run again, and the plan sees its transactions as duplicates.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#postLedgerOnce(txIds, termIds, plan, totalsFor, insertUsage, once);
        return once();
      } catch (err) {
        const code = (err as { code?: string }).code;
        if ((code === '23505' || code === '40001' || code === '40P01') && attempt < 8) continue;
        throw err;
      }
    }
  }

  /**
   * Inserts usage rows with their ledger status (pending without a plan) and counts the new ones
   * into the roll-ups; returns the request ids that were new.
   */
  async #insertUsage(
    client: pg.PoolClient,
    records: readonly UsageRecord[],
    status: ReadonlyMap<string, number> | null,
    revenue: { readonly of: ReadonlyMap<string, StoredTx>; readonly recordedAtMs: number } | null = null,
    opts: {
      readonly knownNew?: boolean;
      readonly whileWriting?: () => void;
      /** usageLiterals(records), when encoded ahead (encodeUsage). */
      readonly encoded?: readonly string[];
    } = {},
  ): Promise<string[]> {
    const inserted: string[] = [];
    if (records.length > 0) {
      // One array per column, unnested: one small statement whatever the batch size, rather than
      // a VALUES list of 26 parameters per record for the server to parse and plan. The record's
      // own columns, then its ledger status and the revenue transaction it keeps.
      const ledger = new ColumnLiterals(1 + REVENUE_COLUMNS.length);
      for (const r of records) {
        ledger
          .add([status?.get(r.requestId) ?? 0])
          .add(revenueColumnsOf(revenue?.of.get(r.requestId), revenue?.recordedAtMs ?? 0), 1);
      }
      const params = [...(opts.encoded ?? usageLiterals(records)), ...ledger.literals()];
      if (opts.knownNew) {
        // Records this transaction found not stored, each once: a plain insert, which costs the
        // server less than a speculative one (ON CONFLICT). Another node storing one of them in
        // the meantime is a unique violation, and the caller runs the whole unit again.
        const insert = client.query(`${INSERT_USAGE} SELECT * FROM unnest(${USAGE_UNNEST})`, params);
        // The insert is on the wire; until the server answers, this thread is the caller's.
        opts.whileWriting?.();
        await insert;
        for (const r of records) inserted.push(r.requestId);
      } else {
        const { rows } = await client.query<{ request_id: string }>(
          `${INSERT_USAGE} SELECT * FROM unnest(${USAGE_UNNEST}) ON CONFLICT (request_id) DO NOTHING RETURNING request_id`,
          params,
        );
        for (const r of rows) inserted.push(r.request_id);
      }
    }
    const fresh = new Set(inserted);
    await this.#rollUp(
      client,
      records.filter((r) => fresh.has(r.requestId)),
    );
    return inserted;
  }

  async #insertTransfers(
    client: pg.PoolClient,
    txs: readonly StoredTx[],
    recordedAtMs: number,
  ): Promise<void> {
    // One array per column, unnested: one statement for the batch.
    const rows = txs.map((t) => transferRowOf(t, recordedAtMs));
    await client.query(
      `INSERT INTO ledger_transactions (${TRANSFER_COLUMNS.map(([c]) => c).join(', ')})
       SELECT * FROM unnest(${TRANSFER_COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')})`,
      columnLiterals(rows, TRANSFER_COLUMNS.length),
    );
  }

  async #postLedgerOnce(
    txIds: readonly string[],
    termIds: readonly string[],
    plan: (view: PostingView) => PostingPlan,
    totalsFor: readonly string[],
    insertUsage: readonly UsageRecord[],
    whileWriting: () => void,
  ): Promise<void> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      // A period closes under the same lock, so no posting lands in a period being closed.
      await client.query('SELECT pg_advisory_xact_lock_shared($1)', [PERIOD_LOCK]);
      const terms = [...new Set(termIds)].sort();
      if (terms.length > 0) {
        await client.query(
          'INSERT INTO accrual_states (term_id, revenue_micros, accrued_micros, remainder_pico) SELECT unnest($1::text[]), 0, 0, 0 ON CONFLICT (term_id) DO NOTHING',
          [terms],
        );
      }
      // Row locks in a fixed order: concurrent accruals against one cap run one at a time.
      const st = await client.query<{
        term_id: string;
        revenue_micros: string;
        accrued_micros: string;
        remainder_pico: string;
      }>(
        'SELECT term_id, revenue_micros, accrued_micros, remainder_pico FROM accrual_states WHERE term_id = ANY($1::text[]) ORDER BY term_id FOR UPDATE',
        [terms],
      );
      // One pass over the records' index answers both what is posted already and which of the
      // records to insert are stored already (those keeping no revenue come back with no hash).
      const ids = new Set(insertUsage.map((r) => r.requestId));
      for (const t of txIds) if (t.startsWith('revenue:')) ids.add(t.slice(8));
      const ex = await client.query<{ tx_id: string; payload_hash: string | null; stored: boolean }>(
        EXISTING_AND_STORED,
        [txIds, [...ids]],
      );
      const existing = new Map<string, string>();
      const stored = new Set<string>();
      for (const r of ex.rows) {
        if (r.stored) stored.add(r.tx_id.slice(8));
        if (r.payload_hash !== null) existing.set(r.tx_id, r.payload_hash);
      }
      // The records to insert: those not stored yet, each once (a batch may repeat one).
      const fresh = new Map<string, UsageRecord>();
      for (const r of insertUsage)
        if (!stored.has(r.requestId) && !fresh.has(r.requestId)) fresh.set(r.requestId, r);
      const closed = await client.query<{ period: string }>('SELECT period FROM ledger_periods');
      const receivableTotals = new Map<string, bigint>();
      if (totalsFor.length > 0) {
        // Refunds of one transaction run one at a time: lock it first.
        await client.query(
          'SELECT tx_id FROM ledger_transactions WHERE tx_id = ANY($1::text[]) ORDER BY tx_id FOR UPDATE',
          [totalsFor],
        );
        await client.query(
          `SELECT request_id FROM usage_records WHERE ${PG_ID_SETS.requestIds('request_id')} ORDER BY request_id FOR UPDATE`,
          [totalsFor],
        );
        const t = await client.query<{ k: string; total: string }>(receivableTotalsSql(PG_ID_SETS), [
          totalsFor,
        ]);
        for (const r of t.rows) receivableTotals.set(r.k, BigInt(r.total));
      }
      const p = plan({
        existing,
        states: new Map(
          st.rows.map((r) => [
            r.term_id,
            {
              revenueMicros: BigInt(r.revenue_micros),
              accruedMicros: BigInt(r.accrued_micros),
              remainderPico: BigInt(r.remainder_pico),
            },
          ]),
        ),
        closed: new Set(closed.rows.map((r) => r.period)),
        receivableTotals,
      });
      const now = systemClock.now();
      // Records stored in this unit of work get their status on insert; only those that were
      // already stored (a retry, a recovery) need the marking pass. A request's revenue
      // transaction goes into its record's row: the one inserted here, or one stored earlier; only
      // a record never stored keeps it apart, as a transfer.
      const revenue = new Map<string, StoredTx>();
      for (const tx of p.txs) {
        const keeper = keeperOf(tx);
        if (keeper !== null) revenue.set(keeper, tx);
      }
      const usageStatus = planStatuses(p, insertUsage);
      const marks = new Map(usageStatus);
      const inserted = await this.#insertUsage(
        client,
        [...fresh.values()],
        usageStatus,
        { of: revenue, recordedAtMs: now },
        {
          knownNew: true,
          whileWriting,
          // Encoded ahead for exactly these records: all of them new, none repeated.
          ...(fresh.size === insertUsage.length ? { encoded: this.#encoded.get(insertUsage) } : {}),
        },
      );
      for (const id of inserted) {
        marks.delete(id);
        revenue.delete(id);
      }
      if (revenue.size > 0) {
        const rest = [...revenue.values()];
        const { rows } = await client.query<{ request_id: string }>(KEEP_REVENUE, [
          rest.map((t) => t.causeId),
          ...columnLiterals(
            rest.map((t) => revenueColumnsOf(t, now)),
            REVENUE_COLUMNS.length,
          ),
        ]);
        for (const r of rows) revenue.delete(r.request_id);
        // Kept apart only when the record was never stored; a stored one keeps a revenue already.
        const stored = await client.query<{ request_id: string }>(
          'SELECT request_id FROM usage_records WHERE request_id = ANY($1::text[]) LIMIT 1',
          [[...revenue.keys()]],
        );
        if (stored.rows[0]) throw revenueKeptTwice(stored.rows[0].request_id);
      }
      const apart = p.txs.filter((t) => {
        const keeper = keeperOf(t);
        return keeper === null || revenue.has(keeper);
      });
      for (const t of apart)
        if (t.code === 'revenue' && isRowPayload(t.payloadHash)) throw rowPayloadApart(t.txId);
      if (apart.length > 0) await this.#insertTransfers(client, apart, now);
      if (p.states.size > 0) {
        const states = [...p.states];
        await client.query(
          `UPDATE accrual_states a SET revenue_micros = v.r, accrued_micros = v.a, remainder_pico = v.p
           FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) AS v(id, r, a, p) WHERE a.term_id = v.id`,
          [
            states.map(([id]) => id),
            states.map(([, x]) => x.revenueMicros.toString()),
            states.map(([, x]) => x.accruedMicros.toString()),
            states.map(([, x]) => x.remainderPico.toString()),
          ],
        );
      }
      const spend = spendOf(p.txs, insertUsage);
      if (spend.rows.length > 0) {
        const n = SPEND_COLUMNS.length;
        await client.query(
          spendUpsert(
            spend.rows
              .map((_, j) => `(${SPEND_COLUMNS.map((_c, k) => `$${j * n + k + 1}`).join(', ')})`)
              .join(', '),
          ),
          spend.rows.flatMap((r) => [...r.key, r.requests, r.micros.toString()]),
        );
      }
      if (spend.rest.length > 0)
        await client.query(spendRollup('unnest($1::text[], $2::text[]) AS x(id, currency)'), [
          spend.rest.map((t) => t[0]),
          spend.rest.map((t) => t[1]),
        ]);
      if (marks.size > 0) {
        await client.query(
          'UPDATE usage_records u SET ledger_status = v.s FROM unnest($1::text[], $2::smallint[]) AS v(r, s) WHERE u.request_id = v.r AND u.ledger_status = 0',
          [[...marks.keys()], [...marks.values()]],
        );
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async pendingUsage(limit: number): Promise<UsageRecord[]> {
    const { rows } = await this.#pool.query(
      `SELECT ${usageColumns.join(', ')} FROM usage_records WHERE ledger_status = 0 ORDER BY seq LIMIT $1`,
      [limit],
    );
    return rows.map(usageFromRow);
  }

  async resetLedger(): Promise<void> {
    await this.#pool.query(
      `BEGIN; DELETE FROM ledger_transactions; DELETE FROM accrual_states; DELETE FROM ledger_periods; UPDATE usage_records SET ledger_status = 0, ${REVENUE_COLUMNS.map((c) => `${c} = NULL`).join(', ')}; COMMIT;`,
    );
  }

  async ledgerRows(query: LedgerFilters = {}): Promise<LedgerRow[]> {
    // Only the filters given, so an empty one filters nothing rather than matching ''.
    const names = (['account', 'period', 'beforePeriod'] as const).filter((k) => query[k]);
    const { rows } = await this.#pool.query(
      ledgerRowsSql(query, (name) => `$${names.indexOf(name) + 1}`),
      names.map((k) => query[k]),
    );
    return rows.map(ledgerRowFromDb);
  }

  async accrualStates(): Promise<Map<string, StoredAccrual>> {
    const { rows } = await this.#pool.query<{
      term_id: string;
      revenue_micros: string;
      accrued_micros: string;
      remainder_pico: string;
    }>('SELECT term_id, revenue_micros, accrued_micros, remainder_pico FROM accrual_states');
    return new Map(
      rows.map((r) => [
        r.term_id,
        {
          revenueMicros: BigInt(r.revenue_micros),
          accruedMicros: BigInt(r.accrued_micros),
          remainderPico: BigInt(r.remainder_pico),
        },
      ]),
    );
  }

  async closedPeriods(): Promise<Set<string>> {
    const { rows } = await this.#pool.query<{ period: string }>('SELECT period FROM ledger_periods');
    return new Set(rows.map((r) => r.period));
  }

  async closePeriod(period: string, atMs: number): Promise<boolean> {
    const client = await this.#pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [PERIOD_LOCK]);
      const r = await client.query(
        'INSERT INTO ledger_periods (period, closed_at_ms) VALUES ($1, $2) ON CONFLICT (period) DO NOTHING',
        [period, atMs],
      );
      await client.query('COMMIT');
      return (r.rowCount ?? 0) > 0;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async heartbeatNode(n: NodeRecord): Promise<void> {
    await this.#pool.query(
      'INSERT INTO nodes (node_id, version, config_hash, url, started_at_ms, heartbeat_at_ms, in_flight, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (node_id) DO UPDATE SET version = excluded.version, config_hash = excluded.config_hash, url = excluded.url, started_at_ms = excluded.started_at_ms, heartbeat_at_ms = excluded.heartbeat_at_ms, in_flight = excluded.in_flight, state = excluded.state',
      [n.nodeId, n.version, n.configHash, n.url, n.startedAtMs, n.heartbeatAtMs, n.inFlight, n.state],
    );
  }

  async spendByScope(sinceMs: number, untilMs: number, keyIds?: readonly string[]): Promise<SpendRow[]> {
    const { rows } = keyIds
      ? await this.#pool.query(spendSelect('$1', '$2', 'SUM(micros)::text', 'key_id = ANY($3::text[])'), [
          sinceMs,
          untilMs,
          keyIds,
        ])
      : await this.#pool.query(spendSelect('$1', '$2', 'SUM(micros)::text'), [sinceMs, untilMs]);
    return rows.map(spendFromRow);
  }

  async spendSummary(sinceMs: number, untilMs: number, opts: SpendSummaryQuery): Promise<SpendSummary> {
    const sql = spendSummarySql({
      since: '$1',
      until: '$2',
      top: '$3',
      keysIn: opts.keyIds ? 'key_id = ANY($4::text[])' : null,
      text: (sum) => `(${sum})::text`,
      byName: (column) => `${column} COLLATE "C"`,
    });
    const args: unknown[] = [sinceMs, untilMs, opts.top];
    if (opts.keyIds) args.push(opts.keyIds);
    return spendSummaryFromRows((await this.#pool.query(sql, args)).rows);
  }

  async listNodes(): Promise<NodeRecord[]> {
    const { rows } = await this.#pool.query('SELECT * FROM nodes ORDER BY node_id');
    return rows.map(nodeFromRow);
  }

  async appendAudit(e: NewAuditEntry): Promise<number> {
    const { rows } = await this.#pool.query<{ seq: string }>(
      'INSERT INTO audit_log (at_ms, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5) RETURNING seq',
      [e.atMs, e.actor, e.action, e.subject, JSON.stringify(e.detail ?? null)],
    );
    return Number(rows[0]!.seq);
  }

  async listAudit(q: { limit?: number; action?: string; subject?: string } = {}): Promise<AuditEntry[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.action) {
      args.push(q.action);
      where.push(`action = $${args.length}`);
    }
    if (q.subject) {
      args.push(q.subject);
      where.push(`subject = $${args.length}`);
    }
    args.push(Math.min(Math.max(q.limit ?? 100, 1), 10_000));
    const { rows } = await this.#pool.query(
      `SELECT seq, at_ms, actor, action, subject, detail FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT $${args.length}`,
      args,
    );
    return rows.map(auditFromRow);
  }

  async checkpoint(): Promise<number> {
    return 0; // PostgreSQL checkpoints in its own server
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
