// A whole Entente on loopback for end-to-end tests: simulators, a store, the gateway, all on
// port 0. The config is written as YAML text and loaded through the real loader.
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Simulator, startSimulator } from '../../sim/index.js';
import { seedKeys } from '../../src/cli/serve.js';
import type { Clock } from '../../src/clock/index.js';
import { parseConfigText } from '../../src/config/index.js';
import type { GatewayEvents } from '../../src/gateway/index.js';
import type { PriceBooks } from '../../src/ledger/index.js';
import type { Logger } from '../../src/observability/index.js';
import { createGateway, type Gateway } from '../../src/server/index.js';
import { READ_THREAD_NICE, SqliteStore, type Store } from '../../src/store/index.js';

export const DEMO_KEY = 'sk-test-demo-key';
export const LIMITED_KEY = 'sk-test-limited-key';

export interface Stack {
  readonly url: string;
  readonly baseURL: string;
  readonly gateway: Gateway;
  readonly store: Store;
  readonly azure: Simulator;
  readonly openai: Simulator;
  close(): Promise<void>;
}

const sha = (k: string) => createHash('sha256').update(k).digest('hex');

export interface StackOptions {
  readonly extraYaml?: string;
  readonly routing?: string;
  readonly server?: string;
  readonly azureLatencyMs?: number;
  /**
   * The upstreams' headersTimeoutMs and bodyIdleTimeoutMs: 2 s, so that a hung simulator fails a
   * request quickly; a test that loads the machine and is not about timeouts sets more.
   */
  readonly upstreamTimeoutMs?: number;
  /** More tenants, as YAML list items under `tenants:`. */
  readonly tenantsYaml?: string;
  /** Extra models, as YAML list items under `models:`. */
  readonly modelsYaml?: string;
  /** The agreement file the gateway enforces. */
  readonly agreementFile?: string;
  /** Price books: metering on. */
  readonly priceBooks?: PriceBooks;
  /** Use this data directory (the SQLite file goes in it). */
  readonly dataDir?: string;
  /** Where the gateway logs (silent by default). */
  readonly logger?: Logger;
  /** Runs before the gateway starts (seed the rollout log, say). */
  readonly beforeStart?: (store: Store) => Promise<void>;
  /** The gateway's clock (a ManualClock moves time by hand); the system clock when absent. */
  readonly clock?: Clock;
  /** Hooks into the request pipeline (a test can make one throw, to stand in for a bug). */
  readonly events?: GatewayEvents;
}

export function stackYaml(azureUrl: string, openaiUrl: string, opts: StackOptions = {}): string {
  return `
server:
  host: 127.0.0.1
  port: 0
  shutdownGraceMs: 10000
${opts.server ?? ''}
routing:
  primaryCloud: azure
  maxAttempts: 3
  cooldown: { failureThreshold: 2, cooldownMs: 60000, maxCooldownMs: 120000 }
${opts.routing ?? ''}
upstreams:
  - id: azure-eastus
    provider: azure-openai
    cloud: azure
    region: eastus
    baseUrl: ${azureUrl}
    apiVersion: 2024-10-21
    auth: { apiKey: azure-secret }
    headersTimeoutMs: ${opts.upstreamTimeoutMs ?? 2000}
    bodyIdleTimeoutMs: ${opts.upstreamTimeoutMs ?? 2000}
  - id: openai
    provider: openai
    cloud: openai
    baseUrl: ${openaiUrl}/v1
    auth: { apiKey: openai-secret }
    headersTimeoutMs: ${opts.upstreamTimeoutMs ?? 2000}
    bodyIdleTimeoutMs: ${opts.upstreamTimeoutMs ?? 2000}
models:
  - name: gpt-4o
    ownedBy: openai
    deployments:
      - { upstream: azure-eastus, deployment: gpt-4o-prod, modelVersion: "2024-11-20" }
      - { upstream: openai, deployment: gpt-4o-2024-11-20, modelVersion: "2024-11-20" }
  - name: gpt-4o-mini
    ownedBy: openai
    deployments:
      - { upstream: openai, deployment: gpt-4o-mini, modelVersion: "2024-07-18" }
${opts.modelsYaml ?? ''}
tenants:
  - id: acme
    keys:
      - { id: acme-all, sha256: ${sha(DEMO_KEY)}, models: ["*"] }
      - { id: acme-limited, sha256: ${sha(LIMITED_KEY)}, models: [gpt-4o-mini] }
${opts.tenantsYaml ?? ''}
usage:
  batchSize: 50
  flushIntervalMs: 20
${opts.extraYaml ?? ''}
`;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const azure = await startSimulator({
    kind: 'azure-openai',
    apiKey: 'azure-secret',
    latencyMs: opts.azureLatencyMs ?? 0,
  });
  const openai = await startSimulator({ kind: 'openai', apiKey: 'openai-secret' });
  const config = parseConfigText(stackYaml(azure.url, openai.url, opts), 'test.yaml', {});
  const dir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'entente-test-'));
  // As entente serve opens it: the reads that grow with the data on a read thread, checkpoints
  // left to the spool writer.
  const store = new SqliteStore(join(dir, 'entente.db'), {
    readThread: { nice: READ_THREAD_NICE },
    autoCheckpoint: false,
  });
  await store.migrate();
  await seedKeys(store, config, opts.clock);
  await opts.beforeStart?.(store);
  const gateway = await createGateway({
    config,
    store,
    keyRefreshMs: 100,
    agreementFile: opts.agreementFile ?? null,
    priceBooks: opts.priceBooks ?? null,
    ...(opts.logger ? { logger: opts.logger } : {}),
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.events ? { events: opts.events } : {}),
  });
  const url = await gateway.listen();
  return {
    url,
    baseURL: `${url}/v1`,
    gateway,
    store,
    azure,
    openai,
    async close() {
      await gateway.close();
      await Promise.all([azure.close(), openai.close()]);
      await store.close();
    },
  };
}

/** Waits until the usage log has written everything queued so far. */
export async function flushed(stack: Stack): Promise<void> {
  await stack.gateway.context.usageLog.flush();
}

export { sha };
