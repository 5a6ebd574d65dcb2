// Every store backend the conformance suites run against: the embedded SQLite store always,
// PostgreSQL when it answers (scripts/run-tests.js sets ENTENTE_TEST_PG_URL; CI requires it).
// Each open() gives a fresh, isolated store: a new SQLite file, or a new PostgreSQL schema.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { PostgresStore, READ_THREAD_NICE, SqliteStore, type Store } from '../../src/store/index.js';

export const pgUrl = process.env.ENTENTE_TEST_PG_URL;

/**
 * The conformance suites' PostgreSQL database: created beside ENTENTE_TEST_PG_URL's with a
 * natural-language collation (ICU, en-US), where text sorts 'kg' before 'kZ'. Many production
 * databases are made that way; a store whose order of names silently follows the database's
 * collation (rather than byte order, as SQLite's) fails here, where a C-collated one hides it.
 */
const ICU_DB = 'entente_test_icu';
let icuUrl: Promise<string> | null = null;
function conformanceUrl(): Promise<string> {
  icuUrl ??= pgAdmin(async (c) => {
    try {
      await c.query(
        `CREATE DATABASE ${ICU_DB} TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'`,
      );
    } catch (err) {
      // Made already (by another test file, perhaps at this moment).
      const code = (err as { code?: string }).code;
      if (code !== '42P04' && code !== '23505') throw err;
    }
    return pgUrl!.replace(/\/[^/?]*(\?|$)/, `/${ICU_DB}$1`);
  });
  return icuUrl;
}

export interface Backend {
  readonly name: 'sqlite' | 'postgres';
  /** What a suite calls it, when not its name. */
  readonly label?: string;
  /** A reason to skip, or false. */
  readonly skip: string | false;
  /** `toVersion`: stop the schema there (an upgrade test writes data as an older Entente did). */
  open(opts?: { maxConnections?: number; toVersion?: number }): Promise<Store>;
  /** Drops what open() created. */
  cleanup(): Promise<void>;
}

async function pgAdmin<T>(fn: (c: pg.Client) => Promise<T>, url = pgUrl): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A fresh SQLite store, opened with `options` (as a gateway opens it, or plain). */
function sqliteBackend(prefix: string, options: ConstructorParameters<typeof SqliteStore>[1] = {}): Backend {
  return {
    name: 'sqlite',
    skip: false,
    async open(opts = {}) {
      const s = new SqliteStore(
        join(mkdtempSync(join(tmpdir(), `entente-${prefix}-`)), 'entente.db'),
        options,
      );
      await s.migrate(opts.toVersion !== undefined ? { toVersion: opts.toVersion } : {});
      return s;
    },
    async cleanup() {},
  };
}

/** SQLite as a gateway opens it: reads that grow with the data on the read thread, no checkpoints. */
export function sqliteWithReadThread(prefix: string): Backend {
  return {
    ...sqliteBackend(prefix, { readThread: { nice: READ_THREAD_NICE }, autoCheckpoint: false }),
    label: 'sqlite, as a gateway opens it',
  };
}

export function backends(prefix: string): Backend[] {
  const schemas: string[] = [];
  return [
    sqliteBackend(prefix),
    {
      name: 'postgres',
      skip: pgUrl ? false : 'PostgreSQL is not reachable (ENTENTE_TEST_PG_URL unset)',
      async open(opts = {}) {
        const schema = `entente_${prefix}_${randomBytes(4).toString('hex')}`;
        schemas.push(schema);
        const url = await conformanceUrl();
        await pgAdmin((c) => c.query(`CREATE SCHEMA ${schema}`), url);
        const s = new PostgresStore(url, {
          schema,
          ...(opts.maxConnections ? { maxConnections: opts.maxConnections } : {}),
        });
        const to = opts.toVersion !== undefined ? { toVersion: opts.toVersion } : {};
        await s.migrate(to);
        await s.migrate(to); // migrations are idempotent
        return s;
      },
      async cleanup() {
        const drop = schemas.splice(0);
        if (drop.length > 0)
          await pgAdmin(
            async (c) => {
              for (const s of drop) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
            },
            await conformanceUrl(),
          );
      },
    },
  ];
}

/** Raw SQL on a store's own database (its file, or its schema), as an older Entente or an intruder. */
export async function raw(
  store: Store,
): Promise<{ exec(sql: string): Promise<unknown[]>; close(): Promise<void> }> {
  const loc = store.location;
  if (loc.kind === 'sqlite') {
    const db = new Database(loc.path);
    return {
      async exec(sql) {
        const st = db.prepare(sql);
        if (st.reader) return st.safeIntegers(true).all();
        st.run();
        return [];
      },
      async close() {
        db.close();
      },
    };
  }
  const c = new pg.Client({ connectionString: loc.url });
  await c.connect();
  await c.query(`SET search_path TO ${loc.schema}`);
  return {
    async exec(sql) {
      return (await c.query(sql)).rows;
    },
    async close() {
      await c.end();
    },
  };
}
