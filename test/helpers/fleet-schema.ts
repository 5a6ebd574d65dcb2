// A PostgreSQL schema of a fleet test's own, migrated, with the demo tenant's key seeded once (the
// nodes share the store, so no node seeds it from its config); dropped afterwards.
import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { PostgresStore } from '../../src/store/index.js';
import { DEMO_KEY } from './stack.js';

async function admin(url: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

export async function fleetSchema(
  url: string,
  prefix: string,
): Promise<{ schema: string; drop(): Promise<void> }> {
  const schema = `entente_${prefix}_${randomBytes(4).toString('hex')}`;
  await admin(url, `CREATE SCHEMA ${schema}`);
  const seed = new PostgresStore(url, { schema });
  await seed.migrate();
  await seed.putApiKey({
    id: 'acme-all',
    tenantId: 'acme',
    sha256: createHash('sha256').update(DEMO_KEY).digest('hex'),
    models: ['*'],
    createdAtMs: 0,
    revokedAtMs: null,
  });
  await seed.close();
  return { schema, drop: () => admin(url, `DROP SCHEMA IF EXISTS ${schema} CASCADE`) };
}
