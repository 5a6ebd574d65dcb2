// What the fleet tests share: a PostgreSQL schema of their own, migrated, with the demo tenant's
// key seeded once (the nodes share the store, so no node seeds it from its config), and an
// in-process gateway node on it that joins the fleet over Redis.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Simulator } from '../../sim/index.js';
import { parseConfigText } from '../../src/config/index.js';
import { createGateway, type Gateway } from '../../src/server/index.js';
import { PostgresStore } from '../../src/store/index.js';
import { DEMO_KEY, type StackOptions, stackYaml } from './stack.js';

/** One statement on an administrative connection (CREATE/DROP SCHEMA or DATABASE). */
export async function pgAdmin(url: string, sql: string): Promise<void> {
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
  await pgAdmin(url, `CREATE SCHEMA ${schema}`);
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
  return { schema, drop: () => pgAdmin(url, `DROP SCHEMA IF EXISTS ${schema} CASCADE`) };
}

export interface FleetNode {
  readonly gateway: Gateway;
  readonly store: PostgresStore;
  readonly url: string;
}

/** A gateway node on the schema, in the fleet of `redisUrl`, listening on a free port. */
export async function fleetNode(o: {
  readonly id: string;
  readonly pgUrl: string;
  readonly schema: string;
  readonly redisUrl: string;
  readonly azure: Simulator;
  readonly openai: Simulator;
  readonly stack?: StackOptions;
  readonly keyRefreshMs?: number;
}): Promise<FleetNode> {
  const config = parseConfigText(stackYaml(o.azure.url, o.openai.url, o.stack ?? {}), `${o.id}.yaml`, {});
  const store = new PostgresStore(o.pgUrl, { schema: o.schema });
  await store.migrate();
  const gateway = await createGateway({
    config,
    store,
    spoolDir: join(mkdtempSync(join(tmpdir(), `entente-${o.id}-`)), 'spool'),
    ...(o.keyRefreshMs ? { keyRefreshMs: o.keyRefreshMs } : {}),
    nodeId: o.id,
    fleet: { redisUrl: o.redisUrl, nodeId: o.id },
    ...(o.stack?.priceBooks ? { priceBooks: o.stack.priceBooks } : {}),
  });
  return { gateway, store, url: await gateway.listen() };
}
