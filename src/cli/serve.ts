// `entente serve`: load and validate the config, start the simulators it names, open the
// store, seed the configured keys, serve; on SIGTERM/SIGINT drain and flush, then exit.

import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Agreement } from '../agreements/index.js';
import { recordFile } from '../audit/index.js';
import { type Clock, systemClock } from '../clock/index.js';
import type { Config } from '../config/index.js';
import { type ConfigOverrides, loadConfig } from '../config/index.js';
import { EntenteError } from '../errors/index.js';
import { bufferedStdout, createLogger } from '../observability/index.js';
import { appendRolloutEvent } from '../rollout/index.js';
import { createGateway } from '../server/index.js';
import { openStore, type Store } from '../store/index.js';
import type { CliHooks, RunningSimulator } from './hooks.js';
import { preflight } from './preflight.js';

/** Config keys are inserted once; a key revoked through the CLI stays revoked across restarts. */
export async function seedKeys(store: Store, config: Config, clock: Clock = systemClock): Promise<void> {
  const existing = new Map((await store.listApiKeys()).map((k) => [k.id, k]));
  for (const t of config.tenants) {
    for (const k of t.keys) {
      const prev = existing.get(k.id);
      await store.putApiKey({
        id: k.id,
        tenantId: t.id,
        sha256: k.sha256,
        models: k.models,
        createdAtMs: prev?.createdAtMs ?? clock.now(),
        revokedAtMs: prev?.revokedAtMs ?? null,
      });
    }
  }
}

/** A fresh data directory gets the config's seed rollout events, each judged by the rules. */
export async function seedRollout(
  store: Store,
  config: Config,
  agreement: Agreement,
  clock: Clock = systemClock,
): Promise<void> {
  if ((await store.listRolloutEvents()).length > 0) return;
  for (const e of config.agreement?.seedRollout ?? []) {
    const ownerOf = (m: string) => config.models.find((x) => x.name === m)?.ownedBy;
    const r = await appendRolloutEvent(
      store,
      agreement,
      { kind: 'stage', ...e, atMs: clock.now() },
      { ownerOf },
    );
    if (!r.ok)
      throw new EntenteError(
        'seed_rollout_refused',
        `seed rollout event ${e.model}@${e.modelVersion} ${e.stage} on ${e.cloud} refused: ${r.reason}`,
      );
  }
}

/** cluster.redisUrl, else REDIS_URL; '' = none (one node). */
export function fleetRedisUrl(config: Config): string | null {
  const url = config.cluster.redisUrl || process.env.REDIS_URL || '';
  return url === '' ? null : url;
}

export async function serve(
  configFile: string,
  overrides: ConfigOverrides,
  hooks: CliHooks = {},
): Promise<void> {
  const log = createLogger((process.env.ENTENTE_LOG_LEVEL as 'info' | undefined) ?? 'info', bufferedStdout());
  const loaded = loadConfig(configFile, process.env, overrides);
  const { config, file, dataDir, agreementFile, priceBooksFile } = loaded;
  const { agreement, priceBooks, warnings } = preflight(loaded, systemClock.now());
  for (const w of warnings) log.warn('catalog model without a price', { warning: w });
  const simUrls = new Map<string, string>();
  const sims: RunningSimulator[] = [];
  if (config.simulators.length > 0) {
    const start = hooks.startSimulator;
    if (!start)
      throw new EntenteError(
        'simulator_not_running',
        `the config names simulators (${config.simulators.map((s) => s.id).join(', ')}) but this entente program has none installed`,
      );
    for (const s of config.simulators) {
      const cloud = config.upstreams.find((u) => u.baseUrl === `sim://${s.id}`)?.cloud;
      const sim = await start({
        kind: s.kind,
        id: s.id,
        port: s.port,
        latencyMs: s.latencyMs,
        tokensPerSecond: s.tokensPerSecond,
        ...(cloud ? { cloud } : {}),
      }).catch((err: unknown) => {
        throw portTaken(
          err,
          `simulator '${s.id}'`,
          `127.0.0.1:${s.port}`,
          `simulators[id=${s.id}].port in ${file}`,
        );
      });
      simUrls.set(s.id, sim.url);
      sims.push(sim);
    }
  }
  const store = await openStore(dataDir, process.env, { serving: true });
  await seedKeys(store, config);
  if (agreement) await seedRollout(store, config, agreement);
  if (priceBooksFile)
    await recordFile(store, systemClock, 'prices', priceBooksFile, readFileSync(priceBooksFile, 'utf8'));
  const redisUrl = fleetRedisUrl(config);
  const nodeId = config.cluster.nodeId ?? `${hostname()}-${config.server.port || process.pid}`;
  const gateway = await createGateway({
    config,
    store,
    simUrls,
    logger: log,
    agreementFile,
    priceBooks,
    spoolDir: join(dataDir, 'spool'),
    nodeId,
    fleet: redisUrl ? { redisUrl, nodeId } : null,
  });
  const url = await gateway.listen().catch(async (err: unknown) => {
    await Promise.all([gateway.close(), ...sims.map((s) => s.close())]).catch(() => undefined);
    throw portTaken(
      err,
      'the gateway',
      `${config.server.host}:${config.server.port}`,
      `--port, ENTENTE_PORT or server.port in ${file}`,
    );
  });
  if (!youngGenerationRaised())
    log.info(
      'V8 runs with its default young generation: `node --max-semi-space-size=64 bin/entente.js serve` (as npm start runs it) about halves the serving thread\'s garbage-collection time at high request rates (README, "Serving at high request rates")',
    );
  log.info('entente is serving', {
    url,
    config: file,
    store: store.kind === 'sqlite' ? `${dataDir}/entente.db` : 'postgres (DATABASE_URL)',
    dataDir,
    simulators: Object.fromEntries(simUrls),
    fleet: redisUrl
      ? { redis: redisUrl.replace(/\/\/[^@/]*@/, '//***@'), namespace: config.cluster.namespace }
      : 'one node',
  });
  process.stderr.write(
    `\nEntente is serving the OpenAI API at ${url}/v1\n  data: ${store.kind === 'sqlite' ? `${dataDir}/entente.db` : 'PostgreSQL (DATABASE_URL)'}\n` +
      (simUrls.size
        ? `  simulated clouds: ${[...simUrls].map(([id, u]) => `${id} ${u}`).join(', ')}\n`
        : '') +
      '  stop with Ctrl-C (requests in flight are drained, usage is flushed)\n\n',
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('draining', { signal, inFlight: gateway.inFlight, preStopMs: config.server.preStopMs });
    try {
      await gateway.preStop();
      await gateway.close();
      await Promise.all(sims.map((s) => s.close()));
      await store.close();
      log.info('stopped', { usageRecordsWritten: gateway.context.usageLog.written });
      process.exit(0);
    } catch (err) {
      log.error('shutdown failed', { error: (err as Error).message });
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

/** A listen that failed because the port is taken, as one line that says what moves it. */
function portTaken(err: unknown, what: string, address: string, fix: string): unknown {
  const code = (err as { code?: string }).code;
  if (code !== 'EADDRINUSE' && code !== 'EACCES') return err;
  return new EntenteError(
    'port_in_use',
    `${what} cannot listen on ${address}: ${code === 'EACCES' ? 'permission denied' : 'the port is taken (another entente, or another program)'}. Choose another port with ${fix}.`,
  );
}

/** Whether node was started with a larger young generation (a flag of its own, or NODE_OPTIONS). */
function youngGenerationRaised(): boolean {
  const flag = (a: string) => a.startsWith('--max-semi-space-size');
  return process.execArgv.some(flag) || (process.env.NODE_OPTIONS ?? '').split(/\s+/).some(flag);
}
