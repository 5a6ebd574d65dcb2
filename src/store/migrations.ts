// The migrations both stores run alike, after their own first ones (which differ in types and
// triggers) and before their own last one (the ledger's transfers, which SQLite makes by rebuilding
// the table): a database of either kind reaches the same schema version with the same tables.

import { ALL_REVENUE, ROLLUP_TABLE, rollupBackfill, SPEND_TABLE, spendRollupFromEntries } from './rollup.js';
import type { ApiKeyChanges, ApiKeyRecord } from './types.js';

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

/**
 * How many versions of the keys the change log keeps: a node further behind than that (or behind
 * a change the log cannot name, such as a truncate) reads every key again.
 */
export const API_KEY_CHANGES_KEPT = 10_000;

/**
 * The keys' change log: which key each version changed, so that a node reads only the keys that
 * changed since the version it holds. Each store's triggers write it with the version they bump.
 * The row of the version in force when the log was created names no key: a node that loaded its
 * keys before then reads them all again.
 */
export const API_KEY_CHANGES_TABLE = `CREATE TABLE api_key_changes (
     version BIGINT NOT NULL,
     key_id TEXT
   );
   CREATE INDEX api_key_changes_version ON api_key_changes (version);
   INSERT INTO api_key_changes (version, key_id) SELECT version, NULL FROM api_keys_version WHERE id = 1`;

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

/**
 * The ids of the keys changed in (`after`, `current`], from the change log's rows; null when the
 * log cannot say (the node is further behind than the log keeps, a version is missing, or a row
 * names no key): the node then reads every key.
 */
export function changedKeyIds(
  after: number,
  current: number,
  log: readonly { readonly version: number; readonly keyId: string | null }[],
): string[] | null {
  if (after > current || current - after > API_KEY_CHANGES_KEPT) return null;
  const versions = new Set<number>();
  const ids = new Set<string>();
  for (const c of log) {
    if (c.version <= after || c.version > current) continue;
    if (c.keyId === null) return null;
    versions.add(c.version);
    ids.add(c.keyId);
  }
  return versions.size === current - after ? [...ids] : null;
}

/** The changes, once the keys with those ids were read: the ids not found were removed. */
export function keyChanges(
  version: number,
  ids: readonly string[],
  found: readonly ApiKeyRecord[],
): ApiKeyChanges {
  const present = new Set(found.map((k) => k.id));
  return { version, keys: found, removed: ids.filter((id) => !present.has(id)) };
}
