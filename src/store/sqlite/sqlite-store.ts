// The embedded store: one SQLite file through better-sqlite3 (v12; v13 crashes on Node 20).
// WAL mode so readers never block the usage writer. Calls are synchronous underneath; the
// async interface keeps it interchangeable with PostgreSQL.
import { chmodSync, closeSync, fdatasyncSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
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
  SpendTally,
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
  usageColumns,
  usageFromRow,
  usageToRow,
} from '../rows.js';
import {
  ENTRIES_VIEW,
  existingSql,
  type IdSets,
  isRowPayload,
  keeperOf,
  type LedgerFilters,
  ledgerRowsSql,
  REVENUE_COLUMN_PG_TYPES,
  REVENUE_COLUMNS,
  REVENUE_SHAPE,
  receivableTotalsSql,
  recordsPlanOf,
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
import { USAGE_PENDING } from '../types.js';
import { ReadThread } from './read-thread.js';

const migrations: readonly string[] = [
  `CREATE TABLE usage_records (
     request_id TEXT PRIMARY KEY,
     tenant_id TEXT NOT NULL,
     key_id TEXT NOT NULL,
     model TEXT NOT NULL,
     model_version TEXT,
     cloud TEXT,
     region TEXT,
     upstream_id TEXT,
     deployment TEXT,
     stream INTEGER NOT NULL,
     status INTEGER NOT NULL,
     error_code TEXT,
     usage_exact INTEGER NOT NULL,
     attempts INTEGER NOT NULL,
     tokens_input_uncached INTEGER NOT NULL,
     tokens_input_cached INTEGER NOT NULL,
     tokens_output INTEGER NOT NULL,
     tokens_reasoning INTEGER NOT NULL,
     started_at_ms INTEGER NOT NULL,
     latency_ms INTEGER NOT NULL,
     overhead_us INTEGER NOT NULL,
     seq INTEGER NOT NULL
   );
   CREATE INDEX usage_records_seq ON usage_records (seq);
   CREATE INDEX usage_records_tenant ON usage_records (tenant_id, seq);
   CREATE TABLE api_keys (
     id TEXT PRIMARY KEY,
     tenant_id TEXT NOT NULL,
     sha256 TEXT NOT NULL UNIQUE,
     models TEXT NOT NULL,
     created_at_ms INTEGER NOT NULL,
     revoked_at_ms INTEGER
   );`,
  `CREATE TABLE rollout_events (
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     payload TEXT NOT NULL,
     recorded_at_ms INTEGER NOT NULL
   );`,
  `ALTER TABLE usage_records ADD COLUMN ledger_status INTEGER NOT NULL DEFAULT 0;
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
     seq INTEGER PRIMARY KEY AUTOINCREMENT,
     at_ms INTEGER NOT NULL,
     actor TEXT NOT NULL,
     action TEXT NOT NULL,
     subject TEXT NOT NULL,
     detail TEXT NOT NULL
   );
   CREATE INDEX audit_log_subject ON audit_log (subject, seq);
   CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
     BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
   CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
     BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;`,
  ...SHARED_MIGRATIONS,
  // Last: each transaction becomes one row with both legs (src/store/transfer.ts), keyed by
  // its id with no separate rowid; the entries table becomes a view of the legs. Pending usage is
  // indexed alone, so a record stored already posted costs no index entry.
  `CREATE TABLE ledger_transfers (
     tx_id TEXT PRIMARY KEY,
     code TEXT NOT NULL,
     payload_hash TEXT NOT NULL,
     effective_at_ms BIGINT NOT NULL,
     period TEXT NOT NULL,
     cause_id TEXT,
     currency TEXT NOT NULL,
     recorded_at_ms BIGINT NOT NULL,
     capacity TEXT,
     debit_account TEXT,
     credit_account TEXT,
     amount_micros BIGINT NOT NULL DEFAULT 0,
     ${TRANSFER_CHECK}
   ) WITHOUT ROWID;
   INSERT INTO ledger_transfers
     SELECT t.tx_id, t.code, t.payload_hash, t.effective_at_ms, t.period, t.cause_id, t.currency, t.recorded_at_ms,
       t.capacity, d.account, c.account, COALESCE(d.amount_micros, 0)
     FROM ledger_transactions t
     LEFT JOIN ledger_entries d ON d.tx_id = t.tx_id AND d.amount_micros > 0
     LEFT JOIN ledger_entries c ON c.tx_id = t.tx_id AND c.amount_micros < 0;
   CREATE TEMP TABLE ledger_migration_check (ok INTEGER NOT NULL CHECK (ok = 1));
   INSERT INTO ledger_migration_check SELECT
     (SELECT count(*) FROM ledger_entries WHERE amount_micros <> 0) = 2 * (SELECT count(*) FROM ledger_transfers WHERE amount_micros > 0)
     AND NOT EXISTS (SELECT 1 FROM ledger_entries e JOIN ledger_transfers x ON x.tx_id = e.tx_id
       WHERE e.amount_micros <> 0 AND NOT ((e.account = x.debit_account AND e.amount_micros = x.amount_micros)
         OR (e.account = x.credit_account AND e.amount_micros = -x.amount_micros)));
   DROP TABLE ledger_migration_check;
   DROP TABLE ledger_entries;
   DROP TABLE ledger_transactions;
   ALTER TABLE ledger_transfers RENAME TO ledger_transactions;
   ${TRANSFER_INDEXES};
   ${TRANSFERS_ENTRIES_VIEW};
   DROP INDEX usage_records_pending;
   CREATE INDEX usage_records_pending ON usage_records (seq) WHERE ledger_status = 0;`,
  // Then: a request's revenue transaction is kept in its usage record's row (src/store/transfer.ts);
  // those already posted move there. Once kept, it never changes (a replay's reset clears it).
  // The last column added carries the shape check over all of them (SQLite adds no table CHECK).
  `${REVENUE_COLUMNS.map((c, i) => `ALTER TABLE usage_records ADD COLUMN ${c} ${REVENUE_COLUMN_PG_TYPES[c].toUpperCase()}${i === REVENUE_COLUMNS.length - 1 ? ` CHECK ${REVENUE_SHAPE}` : ''};`).join('\n   ')}
   UPDATE usage_records AS u SET revenue_hash = t.payload_hash, revenue_effective_at_ms = t.effective_at_ms,
     revenue_period = t.period, revenue_currency = t.currency, revenue_recorded_at_ms = t.recorded_at_ms,
     revenue_capacity = t.capacity, revenue_debit = t.debit_account, revenue_credit = t.credit_account,
     revenue_micros = t.amount_micros
   FROM ledger_transactions t WHERE t.tx_id = 'revenue:' || u.request_id AND t.code = 'revenue';
   DELETE FROM ledger_transactions WHERE code = 'revenue'
     AND EXISTS (SELECT 1 FROM usage_records u WHERE u.request_id = substr(ledger_transactions.tx_id, 9));
   CREATE TRIGGER usage_revenue_fixed BEFORE UPDATE OF ${REVENUE_COLUMNS.join(', ')} ON usage_records
     WHEN OLD.revenue_hash IS NOT NULL AND NEW.revenue_hash IS NOT NULL
     BEGIN SELECT RAISE(ABORT, 'a posted revenue transaction never changes'); END;
   DROP VIEW ledger_entries;
   ${ENTRIES_VIEW};`,
  // Then: a counter every change to the API keys moves, so a node reloads its keys only when they
  // changed (src/store/types.ts apiKeysVersion).
  `${API_KEYS_VERSION_TABLE};
   CREATE TRIGGER api_keys_changed_insert AFTER INSERT ON api_keys BEGIN ${BUMP_API_KEYS_VERSION}; END;
   CREATE TRIGGER api_keys_changed_update AFTER UPDATE ON api_keys BEGIN ${BUMP_API_KEYS_VERSION}; END;
   CREATE TRIGGER api_keys_changed_delete AFTER DELETE ON api_keys BEGIN ${BUMP_API_KEYS_VERSION}; END;`,
  // Then: which key each version changed, so a node reads only those (src/store/types.ts
  // apiKeyChangesSince). The triggers bump the version and log the key under it in one step.
  `${API_KEY_CHANGES_TABLE};
   DROP TRIGGER api_keys_changed_insert;
   DROP TRIGGER api_keys_changed_update;
   DROP TRIGGER api_keys_changed_delete;
   CREATE TRIGGER api_keys_changed_insert AFTER INSERT ON api_keys BEGIN ${logKeyChange('NEW.id')} END;
   CREATE TRIGGER api_keys_changed_update AFTER UPDATE ON api_keys BEGIN ${logKeyChange('NEW.id')}
     INSERT INTO api_key_changes (version, key_id)
       SELECT version, OLD.id FROM api_keys_version WHERE id = 1 AND OLD.id <> NEW.id;
   END;
   CREATE TRIGGER api_keys_changed_delete AFTER DELETE ON api_keys BEGIN ${logKeyChange('OLD.id')} END;`,
];

/** A trigger's body: the next version, the key it changed, and the log trimmed to what it keeps. */
function logKeyChange(keyId: string): string {
  return `${BUMP_API_KEYS_VERSION};
     INSERT INTO api_key_changes (version, key_id) SELECT version, ${keyId} FROM api_keys_version WHERE id = 1;
     DELETE FROM api_key_changes
       WHERE version <= (SELECT version FROM api_keys_version WHERE id = 1) - ${API_KEY_CHANGES_KEPT};`;
}

/** The newest schema version: the migrations both stores have (the two are equal). */
export const SQLITE_SCHEMA_VERSION = migrations.length;

/** Thrown inside a unit of work presumed new that is not: undone, it runs again with the look-up. */
const NOT_FRESH = new Error('a record of the unit of work is stored already');

/** SQLite's "one of the ids": a JSON array bound as @ids. */
const SQLITE_ID_SETS: IdSets = {
  txIds: (column) => `${column} IN (SELECT value FROM json_each(@ids))`,
  requestIds: (column) =>
    `${column} IN (SELECT substr(value, 9) FROM json_each(@ids) WHERE value LIKE 'revenue:%')`,
};

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly presumesNew = true;
  readonly #db: Database.Database;
  #insertUsage!: Database.Statement;
  #upsertRollup!: Database.Statement;
  #nextSeq = 0;
  /** Where the reads that grow with the data run, when not on the calling thread. */
  readonly #reads: ReadThread | null;

  get location(): StoreLocation {
    return { kind: 'sqlite', path: this.path };
  }

  /**
   * `readThread`: the reads whose cost grows with the data (OffThreadRead) run on a thread of
   * their own with this nice value, not on the calling one (a gateway's serving thread).
   * `autoCheckpoint: false`: a commit on this connection never runs a checkpoint (SQLite runs one
   * in whichever connection commits when the log passes 1,000 pages); another calls checkpoint().
   */
  constructor(
    readonly path: string,
    opts: { readonly readThread?: { readonly nice: number }; readonly autoCheckpoint?: boolean } = {},
  ) {
    // The database holds key digests, usage and the ledger: readable by its owner only.
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.#db = new Database(path);
    if (path !== ':memory:') chmodSync(path, 0o600);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = NORMAL');
    this.#db.pragma('busy_timeout = 5000');
    if (opts.autoCheckpoint === false) this.#db.pragma('wal_autocheckpoint = 0');
    this.#reads = opts.readThread && path !== ':memory:' ? new ReadThread(path, opts.readThread.nice) : null;
  }

  /**
   * With `synchronous = NORMAL` in WAL mode a commit is written to the write-ahead log but synced
   * only at the next checkpoint: it survives a crash of the process, not of the OS. Syncing the
   * log makes every commit so far durable (a checkpoint syncs the log before it copies frames
   * out, and the database file after, so a log restarted since holds only newer commits). The
   * log file is opened apart: SQLite keeps no locks on it (WAL mode locks the -shm file and the
   * database), so closing this descriptor releases none of SQLite's.
   */
  syncCommitted(): void {
    if (this.path === ':memory:' || this.path === '') return;
    let fd: number;
    try {
      fd = openSync(`${this.path}-wal`, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // no log: nothing uncheckpointed
      throw err;
    }
    try {
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  async migrate(opts: { readonly toVersion?: number } = {}): Promise<void> {
    const db = this.#db;
    const last = Math.min(opts.toVersion ?? migrations.length, migrations.length);
    db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at_ms INTEGER NOT NULL)',
    );
    const applied = db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as {
      v: number | null;
    };
    db.transaction(() => {
      for (let v = (applied.v ?? 0) + 1; v <= last; v++) {
        db.exec(migrations[v - 1]!);
        db.prepare('INSERT INTO schema_migrations (version, applied_at_ms) VALUES (?, ?)').run(
          v,
          systemClock.now(),
        );
      }
    })();
    if (last < migrations.length) return; // an older schema: nothing of today's can be prepared
    this.#insertUsage = db.prepare(
      `INSERT INTO usage_records (${usageColumns.join(', ')}, seq) VALUES (${usageColumns.map(() => '?').join(', ')}, ?) ON CONFLICT (request_id) DO NOTHING`,
    );
    this.#upsertRollup = db.prepare(rollupUpsert(rollupColumns.map(() => '?')));
    const seq = db.prepare('SELECT max(seq) AS s FROM usage_records').get() as { s: number | null };
    this.#nextSeq = (seq.s ?? 0) + 1;
  }

  async appendUsage(records: readonly UsageRecord[]): Promise<void> {
    if (records.length === 0) return;
    this.#db.transaction(() => {
      const stored: UsageRecord[] = [];
      for (const r of records) {
        const info = this.#insertUsage.run(...usageToRow(r), this.#nextSeq);
        if (info.changes > 0) {
          this.#nextSeq++;
          stored.push(r);
        }
      }
      this.#rollUp(stored);
    })();
  }

  /** Counts newly stored records into the per-minute roll-ups (inside the caller's transaction). */
  #rollUp(stored: readonly UsageRecord[]): void {
    for (const row of rollupOf(stored)) this.#upsertRollup.run(...rollupToRow(row));
  }

  async deploymentTokens(deployments: readonly string[], fromMs: number, toMs: number) {
    return (
      this.#db
        .prepare(
          `SELECT minute_ms AS t, SUM(tokens_input + tokens_output) AS tokens FROM usage_minutes
           WHERE deployment IN (SELECT value FROM json_each(?)) AND minute_ms >= ? AND minute_ms < ?
           GROUP BY minute_ms ORDER BY minute_ms`,
        )
        .all(JSON.stringify(deployments), fromMs, toMs) as { t: number; tokens: number }[]
    ).map((r) => ({ t: Number(r.t), tokens: Number(r.tokens) }));
  }

  async trafficSeries(fromMs: number, toMs: number, bucketMs: number): Promise<TrafficRow[]> {
    if (this.#reads) return this.#reads.call('trafficSeries', [fromMs, toMs, bucketMs]);
    return this.#db
      .prepare(trafficSelect(['@from', '@bucket', '@from', '@to']))
      .all({ from: BigInt(fromMs), bucket: BigInt(bucketMs), to: BigInt(toMs) })
      .map((r) => trafficFromRow(r as Record<string, unknown>));
  }

  async listUsage(query: UsageQuery = {}): Promise<UsageRecord[]> {
    if (this.#reads) return this.#reads.call('listUsage', [query]);
    const where: string[] = [];
    const args: unknown[] = [];
    if (query.tenantId) {
      where.push('tenant_id = ?');
      args.push(query.tenantId);
    }
    if (query.requestId) {
      where.push('request_id = ?');
      args.push(query.requestId);
    }
    if (query.sinceMs !== undefined) {
      where.push('started_at_ms >= ?');
      args.push(query.sinceMs);
    }
    const sql = `SELECT ${usageColumns.join(', ')} FROM usage_records ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`;
    return this.#db
      .prepare(sql)
      .all(...args, query.limit ?? 100)
      .map(usageFromRow);
  }

  async countUsage(): Promise<number> {
    if (this.#reads) return this.#reads.call('countUsage', []);
    return (this.#db.prepare('SELECT count(*) AS n FROM usage_records').get() as { n: number }).n;
  }

  async putApiKey(key: ApiKeyRecord): Promise<void> {
    this.#db
      .prepare(
        `INSERT INTO api_keys (${KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET tenant_id = excluded.tenant_id, sha256 = excluded.sha256, models = excluded.models, revoked_at_ms = excluded.revoked_at_ms, expires_at_ms = excluded.expires_at_ms, metadata = excluded.metadata, limits = excluded.limits`,
      )
      .run(...keyToRow(key));
  }

  async insertApiKey(key: ApiKeyRecord): Promise<boolean> {
    return (
      this.#db
        .prepare(
          `INSERT INTO api_keys (${KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
        )
        .run(...keyToRow(key)).changes > 0
    );
  }

  async getApiKey(id: string): Promise<ApiKeyRecord | null> {
    const row = this.#db.prepare('SELECT * FROM api_keys WHERE id = ?').get(id);
    return row === undefined ? null : keyFromRow(row);
  }

  async revokeApiKey(id: string, atMs: number): Promise<boolean> {
    return (
      this.#db
        .prepare('UPDATE api_keys SET revoked_at_ms = ? WHERE id = ? AND revoked_at_ms IS NULL')
        .run(atMs, id).changes > 0
    );
  }

  async listApiKeys(page: KeyPage = {}): Promise<ApiKeyRecord[]> {
    return this.#db
      .prepare('SELECT * FROM api_keys WHERE id > ? ORDER BY id LIMIT ?')
      .all(page.after ?? '', page.limit ?? -1)
      .map(keyFromRow);
  }

  async listApiKeyIds(prefix: string): Promise<string[]> {
    return this.#db
      .prepare('SELECT id FROM api_keys WHERE substr(id, 1, ?) = ? ORDER BY id')
      .pluck()
      .all(prefix.length, prefix) as string[];
  }

  async apiKeyChangesSince(version: number): Promise<ApiKeyChanges | null> {
    // One read transaction: the version and the log it names are of one moment.
    return this.#db.transaction(() => {
      const current = Number(this.#db.prepare(API_KEYS_VERSION_SELECT).pluck().get());
      if (current === version) return { version, keys: [], removed: [] };
      const log = this.#db
        .prepare('SELECT version, key_id AS keyId FROM api_key_changes WHERE version > ?')
        .all(version) as { version: number; keyId: string | null }[];
      const ids = changedKeyIds(version, current, log);
      if (!ids) return null;
      const found = this.#db
        .prepare('SELECT * FROM api_keys WHERE id IN (SELECT value FROM json_each(?))')
        .all(JSON.stringify(ids))
        .map(keyFromRow);
      return keyChanges(current, ids, found);
    })();
  }

  async apiKeysVersion(): Promise<number> {
    return Number(this.#db.prepare(API_KEYS_VERSION_SELECT).pluck().get());
  }

  async appendRolloutEvent<R>(
    payload: unknown,
    check: (log: readonly StoredRolloutEvent[]) => R | null,
  ): Promise<{ seq: number } | { refused: R }> {
    // IMMEDIATE takes the write lock first, so a concurrent process judges after we commit.
    const run = this.#db.transaction(() => {
      const refused = check(this.#rollout());
      if (refused !== null) return { refused };
      const info = this.#db
        .prepare('INSERT INTO rollout_events (payload, recorded_at_ms) VALUES (?, ?)')
        .run(JSON.stringify(payload), systemClock.now());
      return { seq: Number(info.lastInsertRowid) };
    });
    return run.immediate();
  }

  async lastRolloutSeq(): Promise<number> {
    return Number(this.#once('SELECT COALESCE(max(seq), 0) FROM rollout_events').pluck().get());
  }

  async listRolloutEvents(afterSeq = 0): Promise<StoredRolloutEvent[]> {
    return this.#rollout(afterSeq);
  }

  #rollout(afterSeq = 0): StoredRolloutEvent[] {
    return (
      this.#db
        .prepare('SELECT seq, payload FROM rollout_events WHERE seq > ? ORDER BY seq')
        .all(afterSeq) as {
        seq: number;
        payload: string;
      }[]
    ).map((r) => ({
      seq: r.seq,
      payload: JSON.parse(r.payload) as unknown,
    }));
  }

  #posting: ReturnType<SqliteStore['prepareStatements']> | null = null;
  readonly #statements = new Map<string, Database.Statement>();

  /**
   * A statement run on a timer (the heartbeat, the rollout poll, the pending scan), prepared the
   * first time only: parsing it again each time cost more than running it.
   */
  #once(sql: string): Database.Statement {
    let st = this.#statements.get(sql);
    if (!st) {
      st = this.#db.prepare(sql);
      this.#statements.set(sql, st);
    }
    return st;
  }

  /** The posting path's statements, prepared once per connection. */
  #postingStatements() {
    this.#posting ??= this.prepareStatements();
    return this.#posting;
  }

  private prepareStatements() {
    const db = this.#db;
    return {
      existing: db.prepare(existingSql(SQLITE_ID_SETS)),
      // Any revenue transaction kept apart from a record: one probe of the key's range.
      keptApart: db
        .prepare("SELECT 1 FROM ledger_transactions WHERE tx_id >= 'revenue:' AND tx_id < 'revenue;' LIMIT 1")
        .pluck(),
      state: db
        .prepare(
          'SELECT revenue_micros, accrued_micros, remainder_pico FROM accrual_states WHERE term_id = ?',
        )
        .safeIntegers(true),
      totals: db.prepare(receivableTotalsSql(SQLITE_ID_SETS)).safeIntegers(true),
      insTx: db.prepare(
        `INSERT INTO ledger_transactions (${TRANSFER_COLUMNS.map(([c]) => c).join(', ')}) VALUES (${TRANSFER_COLUMNS.map(() => '?').join(', ')})`,
      ),
      upState: db.prepare(
        'INSERT INTO accrual_states (term_id, revenue_micros, accrued_micros, remainder_pico) VALUES (?, ?, ?, ?) ON CONFLICT (term_id) DO UPDATE SET revenue_micros = excluded.revenue_micros, accrued_micros = excluded.accrued_micros, remainder_pico = excluded.remainder_pico',
      ),
      mark: db.prepare(
        'UPDATE usage_records SET ledger_status = ? WHERE request_id IN (SELECT value FROM json_each(?)) AND ledger_status = 0',
      ),
      spend: db.prepare(
        spendRollup(
          "(SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS currency FROM json_each(?)) x",
        ),
      ),
      upSpend: db.prepare(spendUpsert(`(${SPEND_COLUMNS.map(() => '?').join(', ')})`)),
      insUsage: db.prepare(
        `INSERT INTO usage_records (${[...usageColumns, 'seq', 'ledger_status', ...REVENUE_COLUMNS].join(', ')})
         VALUES (${[...usageColumns, 'seq', 'ledger_status', ...REVENUE_COLUMNS].map(() => '?').join(', ')})
         ON CONFLICT (request_id) DO NOTHING`,
      ),
      recordStored: db.prepare('SELECT 1 FROM usage_records WHERE request_id = ?').pluck(),
      // A revenue transaction kept in a record stored earlier; never over one already kept.
      keepRevenue: db.prepare(
        `UPDATE usage_records SET ${REVENUE_COLUMNS.map((c) => `${c} = ?`).join(', ')}
         WHERE request_id = ? AND revenue_hash IS NULL`,
      ),
    };
  }

  /** What is posted already under these transaction ids: id → payload. One statement a batch. */
  #existing(st: ReturnType<SqliteStore['prepareStatements']>, txIds: readonly string[]): Map<string, string> {
    const found = st.existing.all({ ids: JSON.stringify(txIds) }) as {
      tx_id: string;
      payload_hash: string;
    }[];
    return new Map(found.map((r) => [r.tx_id, r.payload_hash]));
  }

  /**
   * Inserts a record with its status and the revenue its row keeps; false when it is stored
   * already. A method of its own, called once a record: V8 optimises it after a few dozen
   * records, where the same lines inside the unit of work's closure (a new one each batch) ran
   * as baseline code for the first batches of every process (callgrind: about 4,000
   * instructions a record more, bench/instructions-bench.ts).
   */
  #insertRecord(
    st: ReturnType<SqliteStore['prepareStatements']>,
    r: UsageRecord,
    status: number,
    revenue: StoredTx | undefined,
    now: number,
  ): boolean {
    // One array of parameters, not three spread into a fourth; and spread into the call, not
    // passed as an array: better-sqlite3 reads an array's elements one by one through V8's
    // API (v8::Object::Get), about 400 instructions each, where spread arguments come in
    // the call itself (callgrind: 15,000 instructions a record, bench/instructions-bench.ts).
    const row = usageToRow(r);
    row.push(this.#nextSeq, status);
    const kept = revenueColumnsOf(revenue, now);
    for (let k = 0; k < kept.length; k++) row.push(kept[k]);
    if (st.insUsage.run(...row).changes === 0) return false;
    this.#nextSeq++;
    return true;
  }

  #insertTransfer(tx: StoredTx, recordedAtMs: number): void {
    this.#postingStatements().insTx.run(...transferRowOf(tx, recordedAtMs));
  }

  async postLedger(
    txIds: readonly string[],
    termIds: readonly string[],
    plan: (view: PostingView) => PostingPlan,
    totalsFor: readonly string[] = [],
    insertUsage: readonly UsageRecord[] = [],
    opts: PostLedgerOptions = {},
  ): Promise<void> {
    const db = this.#db;
    const st = this.#postingStatements();
    const run = db.transaction((presumeNew: boolean) => {
      // Presumed new: no look-up; a record found stored, or a revenue not of a record stored
      // here, undoes the unit of work (NOT_FRESH) and it runs again with the look-up. Asked
      // inside the unit of work: another process may post between a question before and it.
      const presume = presumeNew && st.keptApart.get() === undefined;
      const existing = presume ? new Map<string, string>() : this.#existing(st, txIds);
      const states = new Map<string, StoredAccrual>();
      for (const id of termIds) {
        const r = st.state.get(id) as
          | { revenue_micros: bigint; accrued_micros: bigint; remainder_pico: bigint }
          | undefined;
        if (r)
          states.set(id, {
            revenueMicros: r.revenue_micros,
            accruedMicros: r.accrued_micros,
            remainderPico: r.remainder_pico,
          });
      }
      const receivableTotals = new Map<string, bigint>();
      if (totalsFor.length > 0) {
        const rows = st.totals.all({ ids: JSON.stringify(totalsFor) }) as { k: string; total: bigint }[];
        for (const r of rows) receivableTotals.set(r.k, r.total);
      }
      const p = plan({ existing, states, closed: this.#closed(), receivableTotals, presumedNew: presume });
      const now = systemClock.now();
      // A request's revenue transaction goes into its record's row: the one inserted below, or,
      // for a record stored earlier, the stored one. Only a record never stored keeps it apart.
      const generic = p.records ? null : recordsPlanOf(p, insertUsage);
      const by = p.records ?? generic!;
      // The others are written after the records: a unit presumed new is found not to be by its
      // records' inserts, before it writes a transaction that may be posted already (an accrual).
      if (presume) for (const tx of by.others) if (keeperOf(tx) !== null) throw NOT_FRESH;
      for (const [id, s] of p.states) st.upState.run(id, s.revenueMicros, s.accruedMicros, s.remainderPico);
      // Records stored in this unit of work get their status on insert; only those that were
      // already stored (a retry, a recovery, a repeat in the batch) need the marking pass below.
      const stored: UsageRecord[] = [];
      const spend = new SpendTally();
      const byStatus = new Map<number, string[]>();
      const mark = (rid: string, status: number) => {
        const ids = byStatus.get(status);
        if (ids) ids.push(rid);
        else byStatus.set(status, [rid]);
      };
      for (let i = 0; i < insertUsage.length; i++) {
        const r = insertUsage[i]!;
        const revenue = by.revenue[i];
        if (revenue) spend.add(r, revenue);
        if (this.#insertRecord(st, r, by.status[i]!, revenue, now)) {
          stored.push(r);
          continue;
        }
        // Stored already: a recovered spool re-delivers it, or the batch repeats it (the first
        // stands: a repeat has no revenue of its own, and its mark finds the record not pending).
        if (presume) throw NOT_FRESH;
        if (by.status[i]! !== USAGE_PENDING) mark(r.requestId, by.status[i]!);
        // Keep the revenue in the stored row.
        if (revenue && st.keepRevenue.run(...revenueColumnsOf(revenue, now), r.requestId).changes === 0)
          throw revenueKeptTwice(r.requestId);
      }
      for (const tx of by.others) {
        if (tx.code === 'revenue') spend.apart(tx);
        const keeper = keeperOf(tx);
        if (keeper !== null) {
          if (st.keepRevenue.run(...revenueColumnsOf(tx, now), keeper).changes > 0) continue;
          // Kept apart only when the record was never stored; a stored one keeps a revenue already.
          if (st.recordStored.get(keeper)) throw revenueKeptTwice(keeper);
          if (isRowPayload(tx.payloadHash)) throw rowPayloadApart(tx.txId);
        }
        this.#insertTransfer(tx, now);
      }
      this.#rollUp(stored);
      for (const r of spend.rows()) st.upSpend.run(...r.key, r.requests, r.micros);
      if (spend.rest.length > 0) st.spend.run(JSON.stringify(spend.rest));
      // Records not among insertUsage (a plan by record lists only those in usageStatus).
      for (const [rid, status] of generic ? generic.apart : p.usageStatus) mark(rid, status);
      for (const [status, ids] of byStatus) st.mark.run(status, JSON.stringify(ids));
    });
    // The spool writer's batches are new records, whose revenue no one has posted: for them the
    // look-up of what is posted already (about 7,000 instructions a record, callgrind) is
    // presumed empty, unless some revenue is kept apart from its record (posted before the record
    // was stored: then it is looked up, as everything else is).
    const seq = this.#nextSeq;
    let presumed = insertUsage.length > 0;
    for (;;) {
      try {
        run.immediate(presumed);
        break;
      } catch (err) {
        if (err !== NOT_FRESH) throw err;
        this.#nextSeq = seq;
        presumed = false;
      }
    }
    // SQLite writes on this thread: nothing to overlap with, so the hook runs once it is done.
    opts.whileWriting?.();
  }

  async pendingUsage(limit: number): Promise<UsageRecord[]> {
    // Prepared once per limit: the spool writer asks every scan interval, and parsing the
    // statement each time cost it more than the (usually empty) answer. The limit is in the
    // text, not bound: SQLite re-prepares a statement whenever a LIMIT parameter is bound again
    // (the planner reads its value), which made every scan parse it anyway.
    if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`pendingUsage: bad limit ${limit}`);
    return this.#once(
      `SELECT ${usageColumns.join(', ')} FROM usage_records WHERE ledger_status = 0 ORDER BY seq LIMIT ${limit}`,
    )
      .all()
      .map(usageFromRow);
  }

  async resetLedger(): Promise<void> {
    this.#db.transaction(() => {
      this.#db.exec(
        `DELETE FROM ledger_transactions; DELETE FROM accrual_states; DELETE FROM ledger_periods; UPDATE usage_records SET ledger_status = 0, ${REVENUE_COLUMNS.map((c) => `${c} = NULL`).join(', ')};`,
      );
    })();
  }

  async ledgerRows(query: LedgerFilters = {}): Promise<LedgerRow[]> {
    if (this.#reads) return this.#reads.call('ledgerRows', [query]);
    // Only the filters given, so an empty one filters nothing rather than matching ''.
    const filters = Object.fromEntries(Object.entries(query).filter(([, v]) => v));
    return this.#db
      .prepare(ledgerRowsSql(filters, (name) => `@${name}`))
      .safeIntegers(true)
      .all(filters)
      .map(ledgerRowFromDb);
  }

  async accrualStates(): Promise<Map<string, StoredAccrual>> {
    const rows = this.#db
      .prepare('SELECT term_id, revenue_micros, accrued_micros, remainder_pico FROM accrual_states')
      .safeIntegers(true)
      .all() as { term_id: string; revenue_micros: bigint; accrued_micros: bigint; remainder_pico: bigint }[];
    return new Map(
      rows.map((r) => [
        r.term_id,
        { revenueMicros: r.revenue_micros, accruedMicros: r.accrued_micros, remainderPico: r.remainder_pico },
      ]),
    );
  }

  async closedPeriods(): Promise<Set<string>> {
    return this.#closed();
  }

  #closed(): Set<string> {
    return new Set(
      (this.#db.prepare('SELECT period FROM ledger_periods').all() as { period: string }[]).map(
        (r) => r.period,
      ),
    );
  }

  async closePeriod(period: string, atMs: number): Promise<boolean> {
    // IMMEDIATE: a posting in flight finishes before the period closes, and none starts in it after.
    return this.#db
      .transaction(
        () =>
          this.#db
            .prepare(
              'INSERT INTO ledger_periods (period, closed_at_ms) VALUES (?, ?) ON CONFLICT (period) DO NOTHING',
            )
            .run(period, atMs).changes > 0,
      )
      .immediate();
  }

  async heartbeatNode(n: NodeRecord): Promise<void> {
    this.#once(
      'INSERT INTO nodes (node_id, version, config_hash, url, started_at_ms, heartbeat_at_ms, in_flight, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (node_id) DO UPDATE SET version = excluded.version, config_hash = excluded.config_hash, url = excluded.url, started_at_ms = excluded.started_at_ms, heartbeat_at_ms = excluded.heartbeat_at_ms, in_flight = excluded.in_flight, state = excluded.state',
    ).run(n.nodeId, n.version, n.configHash, n.url, n.startedAtMs, n.heartbeatAtMs, n.inFlight, n.state);
  }

  async spendByScope(sinceMs: number, untilMs: number, keyIds?: readonly string[]): Promise<SpendRow[]> {
    if (this.#reads) return this.#reads.call('spendByScope', [sinceMs, untilMs, keyIds]);
    const micros = 'CAST(SUM(micros) AS TEXT)';
    const rows = keyIds
      ? this.#db
          .prepare(spendSelect('?', '?', micros, 'key_id IN (SELECT value FROM json_each(?))'))
          .all(sinceMs, untilMs, JSON.stringify(keyIds))
      : this.#db.prepare(spendSelect('?', '?', micros)).all(sinceMs, untilMs);
    return rows.map(spendFromRow);
  }

  async spendSummary(sinceMs: number, untilMs: number, opts: SpendSummaryQuery): Promise<SpendSummary> {
    if (this.#reads) return this.#reads.call('spendSummary', [sinceMs, untilMs, opts]);
    const sql = spendSummarySql({
      since: '@since',
      until: '@until',
      top: '@top',
      keysIn: opts.keyIds ? 'key_id IN (SELECT value FROM json_each(@keys))' : null,
      text: (sum) => `CAST(${sum} AS TEXT)`,
      byName: (column) => column,
    });
    const args = { since: sinceMs, until: untilMs, top: opts.top };
    return spendSummaryFromRows(
      this.#db.prepare(sql).all(opts.keyIds ? { ...args, keys: JSON.stringify(opts.keyIds) } : args),
    );
  }

  async listNodes(): Promise<NodeRecord[]> {
    return this.#db.prepare('SELECT * FROM nodes ORDER BY node_id').all().map(nodeFromRow);
  }

  async appendAudit(e: NewAuditEntry): Promise<number> {
    const info = this.#db
      .prepare('INSERT INTO audit_log (at_ms, actor, action, subject, detail) VALUES (?, ?, ?, ?, ?)')
      .run(e.atMs, e.actor, e.action, e.subject, JSON.stringify(e.detail ?? null));
    return Number(info.lastInsertRowid);
  }

  async listAudit(q: { limit?: number; action?: string; subject?: string } = {}): Promise<AuditEntry[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (q.action) {
      where.push('action = ?');
      args.push(q.action);
    }
    if (q.subject) {
      where.push('subject = ?');
      args.push(q.subject);
    }
    args.push(Math.min(Math.max(q.limit ?? 100, 1), 10_000));
    const rows = this.#db
      .prepare(
        `SELECT seq, at_ms, actor, action, subject, detail FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`,
      )
      .all(...args);
    return rows.map(auditFromRow);
  }

  async checkpoint(): Promise<number> {
    if (this.path === ':memory:') return 0;
    const r = this.#db.pragma('wal_checkpoint(PASSIVE)') as { checkpointed: number }[];
    return Math.max(0, r[0]?.checkpointed ?? 0);
  }

  async close(): Promise<void> {
    await this.#reads?.close();
    if (this.#db.open) this.#db.close();
  }
}
