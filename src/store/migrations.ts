// The migrations both stores run alike, after their own first ones (which differ in types and
// triggers) and before their own last one (the ledger's transfers, which SQLite makes by rebuilding
// the table): a database of either kind reaches the same schema version with the same tables.
import { ALL_REVENUE, ROLLUP_TABLE, rollupBackfill, SPEND_TABLE, spendRollupFromEntries } from './rollup.js';

/**
 * One row whose version moves with every change to api_keys (each store's triggers bump it), so
 * that a node polls one row and reloads its keys only when they changed.
 */
export const API_KEYS_VERSION_TABLE = `CREATE TABLE api_keys_version (
     id INTEGER PRIMARY KEY CHECK (id = 1),
     version BIGINT NOT NULL
   );
   INSERT INTO api_keys_version (id, version) VALUES (1, 1)`;
export const BUMP_API_KEYS_VERSION = 'UPDATE api_keys_version SET version = version + 1 WHERE id = 1';
export const API_KEYS_VERSION_SELECT = 'SELECT version FROM api_keys_version WHERE id = 1';

/** The nodes registry and the key columns (versions 3–5), then the roll-ups (6–8). */
export const SHARED_MIGRATIONS: readonly string[] = [
  `CREATE TABLE nodes (
     node_id TEXT PRIMARY KEY,
     version TEXT NOT NULL,
     config_hash TEXT NOT NULL,
     url TEXT NOT NULL,
     started_at_ms BIGINT NOT NULL,
     heartbeat_at_ms BIGINT NOT NULL,
     in_flight INTEGER NOT NULL,
     state TEXT NOT NULL
   );`,
  `ALTER TABLE api_keys ADD COLUMN expires_at_ms BIGINT;
   ALTER TABLE api_keys ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';`,
  `ALTER TABLE api_keys ADD COLUMN limits TEXT;`,
  `${ROLLUP_TABLE};\n${rollupBackfill('(started_at_ms / 60000) * 60000')};`,
  `ALTER TABLE usage_records ADD COLUMN capacity TEXT;`,
  `${SPEND_TABLE};\n${spendRollupFromEntries(ALL_REVENUE)};`,
  `ALTER TABLE usage_records ADD COLUMN tier TEXT;
   ALTER TABLE ledger_transactions ADD COLUMN capacity TEXT;`,
  `ALTER TABLE usage_records ADD COLUMN attempt_log TEXT;`,
];
