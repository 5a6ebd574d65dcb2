// A gateway from a YAML config text, on port 0, with its own SQLite store: for end-to-end tests
// that bring their own simulators (startStack brings Azure and OpenAI ones).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seedKeys } from '../../src/cli/serve.js';
import type { Clock } from '../../src/clock/index.js';
import { parseConfigText } from '../../src/config/index.js';
import type { GatewayEvents } from '../../src/gateway/index.js';
import type { PriceBooks } from '../../src/ledger/index.js';
import { createGateway, type Gateway } from '../../src/server/index.js';
import { SqliteStore, type UsageRecord } from '../../src/store/index.js';

export interface TestGateway {
  readonly gateway: Gateway;
  readonly store: SqliteStore;
  readonly baseURL: string;
  /** The one usage record of a request, once the usage log has written it. */
  usageOf(requestId: string | null): Promise<UsageRecord>;
  close(): Promise<void>;
}

export interface GatewayTestOptions {
  readonly events?: GatewayEvents;
  readonly clock?: Clock;
  /** Price books: metering (and the ledger) on. */
  readonly priceBooks?: PriceBooks;
}

export async function startGatewayFromYaml(
  yaml: string,
  dir?: string,
  opts: GatewayTestOptions = {},
): Promise<TestGateway> {
  const config = parseConfigText(yaml, 'test.yaml', {});
  const store = new SqliteStore(join(dir ?? mkdtempSync(join(tmpdir(), 'entente-gw-')), 'entente.db'));
  await store.migrate();
  await seedKeys(store, config);
  const gateway = await createGateway({
    config,
    store,
    keyRefreshMs: 100,
    agreementFile: null,
    priceBooks: opts.priceBooks ?? null,
    ...(opts.events ? { events: opts.events } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  const baseURL = `${await gateway.listen()}/v1`;
  return {
    gateway,
    store,
    baseURL,
    async usageOf(requestId) {
      if (!requestId) throw new Error('the response carries no x-request-id');
      await gateway.context.usageLog.flush();
      const rows = await store.listUsage({ requestId });
      if (rows.length !== 1)
        throw new Error(`expected exactly one usage record for ${requestId}, found ${rows.length}`);
      return rows[0]!;
    },
    async close() {
      await gateway.close();
      await store.close();
    },
  };
}
