import { join } from 'node:path';
import { POSTGRES_SCHEMA_VERSION, PostgresStore } from './postgres/postgres-store.js';
import { SQLITE_SCHEMA_VERSION, SqliteStore } from './sqlite/sqlite-store.js';
import type { Store, StoreLocation } from './types.js';

export { keyPage } from './key-page.js';
export { API_KEY_CHANGES_KEPT } from './migrations.js';
export type { MinuteRollup } from './rollup.js';
export { LATENCY_BOUNDS_MS, OVERHEAD_BOUNDS_US, rollupOf } from './rollup.js';
export { isRowPayload, ROW_PAYLOAD_MARK, type Transfer, transferOf } from './transfer.js';
export type {
  ApiKeyChanges,
  ApiKeyRecord,
  AttemptRecord,
  AttemptUsage,
  AuditEntry,
  KeyPage,
  LedgerRow,
  NewAuditEntry,
  NodeRecord,
  PostingPlan,
  PostingView,
  PostLedgerOptions,
  RecordsPlan,
  SpendDimension,
  SpendGroup,
  SpendRow,
  SpendSummary,
  SpendSummaryQuery,
  Store,
  StoredAccrual,
  StoredEntry,
  StoredRolloutEvent,
  StoredTx,
  StoreLocation,
  TrafficRow,
  UsageQuery,
  UsageRecord,
} from './types.js';
export { USAGE_CONFLICT, USAGE_PENDING, USAGE_POSTED, USAGE_UNPRICED } from './types.js';
export { POSTGRES_SCHEMA_VERSION, PostgresStore, SQLITE_SCHEMA_VERSION, SqliteStore };

/** The nice value of the SQLite store's read thread in a gateway: admin reads come after serving. */
export const READ_THREAD_NICE = 10;

/**
 * DATABASE_URL (postgres://…) selects PostgreSQL; otherwise the embedded SQLite file in the data
 * directory. `serving`: the store of a gateway: with SQLite, the reads that grow with the data run
 * on a read thread, and checkpoints are left to the spool writer's connection, so neither runs on
 * the thread that serves (PostgreSQL runs both in its server anyway).
 */
export async function openStore(
  dataDir: string,
  env: NodeJS.ProcessEnv = process.env,
  opts: { readonly serving?: boolean } = {},
): Promise<Store> {
  const url = env.DATABASE_URL;
  const store: Store =
    url && /^postgres(ql)?:\/\//.test(url)
      ? new PostgresStore(url)
      : new SqliteStore(
          join(dataDir, 'entente.db'),
          opts.serving ? { readThread: { nice: READ_THREAD_NICE }, autoCheckpoint: false } : {},
        );
  await store.migrate();
  return store;
}

/** Opens (and migrates) the store at a location another thread or process described. */
export async function openStoreAt(location: StoreLocation): Promise<Store> {
  const store: Store =
    location.kind === 'postgres'
      ? new PostgresStore(location.url, location.schema ? { schema: location.schema } : {})
      : new SqliteStore(location.path);
  await store.migrate();
  return store;
}
