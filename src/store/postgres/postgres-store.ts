// The cluster store: PostgreSQL through node-postgres (pg), shared by several gateway nodes.
// Usage appends are one multi-row INSERT per batch, idempotent on request_id.
import pg from 'pg';
import { keyFromRow, usageColumns, usageFromRow, usageToRow } from '../rows.js';
import type { ApiKeyRecord, Store, StoredRolloutEvent, UsageQuery, UsageRecord } from '../types.js';

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
];

const ROLLOUT_LOCK = 7_160_002; // serialises rollout appends across nodes

const MIGRATION_LOCK = 7_160_001; // pg_advisory_xact_lock key: one migrator at a time across nodes

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;

  constructor(connectionString: string, opts: { schema?: string; maxConnections?: number } = {}) {
    this.#pool = new pg.Pool({
      connectionString,
      max: opts.maxConnections ?? 10,
      ...(opts.schema ? { options: `-c search_path=${opts.schema}` } : {}),
    });
  }

  async migrate(): Promise<void> {
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
      for (let v = (rows[0]?.v ?? 0) + 1; v <= migrations.length; v++) {
        await client.query(migrations[v - 1]!);
        await client.query('INSERT INTO schema_migrations (version, applied_at_ms) VALUES ($1, $2)', [
          v,
          Date.now(),
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
    const n = usageColumns.length;
    // Postgres caps a statement at 65535 parameters.
    const perStatement = Math.floor(65_535 / n);
    for (let i = 0; i < records.length; i += perStatement) {
      const slice = records.slice(i, i + perStatement);
      const values: unknown[] = [];
      const tuples = slice.map((r, j) => {
        values.push(...usageToRow(r));
        return `(${usageColumns.map((_, k) => `$${j * n + k + 1}`).join(', ')})`;
      });
      await this.#pool.query(
        `INSERT INTO usage_records (${usageColumns.join(', ')}) VALUES ${tuples.join(', ')} ON CONFLICT (request_id) DO NOTHING`,
        values,
      );
    }
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
      `INSERT INTO api_keys (id, tenant_id, sha256, models, created_at_ms, revoked_at_ms) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (id) DO UPDATE SET tenant_id = excluded.tenant_id, sha256 = excluded.sha256, models = excluded.models, revoked_at_ms = excluded.revoked_at_ms`,
      [key.id, key.tenantId, key.sha256, JSON.stringify(key.models), key.createdAtMs, key.revokedAtMs],
    );
  }

  async revokeApiKey(id: string, atMs: number): Promise<boolean> {
    const r = await this.#pool.query(
      'UPDATE api_keys SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL',
      [atMs, id],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async listApiKeys(): Promise<ApiKeyRecord[]> {
    const { rows } = await this.#pool.query('SELECT * FROM api_keys ORDER BY id');
    return rows.map(keyFromRow);
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
        [JSON.stringify(payload), Date.now()],
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

  async listRolloutEvents(): Promise<StoredRolloutEvent[]> {
    const { rows } = await this.#pool.query<{ seq: string; payload: unknown }>(
      'SELECT seq, payload FROM rollout_events ORDER BY seq',
    );
    return rows.map((r) => ({ seq: Number(r.seq), payload: r.payload }));
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }
}
