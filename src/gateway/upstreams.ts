// One HTTP client per upstream: an undici Pool with keep-alive connections to its origin, and the
// provider bound to the upstream's settings and credentials. Each catalog deployment is resolved
// to its upstream once, at start; the failover loop reads that binding with one map lookup.
import { Pool } from 'undici';
import type { Clock } from '../clock/index.js';
import type { UpstreamConfig } from '../config/index.js';
import { type CredentialSource, resolveCredentials } from '../credentials/index.js';
import { EntenteError } from '../errors/index.js';
import type { Logger } from '../observability/index.js';
import { adapters, type BoundProvider, bindProvider } from '../providers/index.js';
import type { Catalog, CatalogDeployment } from '../routing/index.js';

export interface Upstream {
  readonly config: UpstreamConfig;
  readonly credentials: CredentialSource;
  readonly provider: BoundProvider;
  readonly pool: Pool;
  readonly origin: string;
}

/** A catalog deployment with the upstream that serves it. */
export interface BoundDeployment {
  readonly deployment: CatalogDeployment;
  readonly upstream: Upstream;
}

export interface UpstreamDeps {
  /** Simulator id → base URL, for upstreams whose baseUrl is sim://<id>. */
  readonly simUrls: ReadonlyMap<string, string>;
  readonly env: NodeJS.ProcessEnv;
  readonly clock: Clock;
  readonly log: Logger;
}

export function createUpstream(config: UpstreamConfig, deps: UpstreamDeps): Upstream {
  let base = config.baseUrl;
  if (base.startsWith('sim://')) {
    const url = deps.simUrls.get(base.slice(6));
    if (!url)
      throw new EntenteError(
        'simulator_not_running',
        `upstream ${config.id}: simulator ${base.slice(6)} is not running`,
      );
    // The OpenAI simulator serves under /v1, as api.openai.com does; Azure's under /openai.
    base = config.provider === 'openai' ? `${url}/v1` : url;
  }
  const url = new URL(base);
  const credentials = resolveCredentials(config, deps.env, deps.clock, deps.log);
  const provider = bindProvider(
    config.provider,
    adapters[config.provider],
    {
      basePath: url.pathname.replace(/\/+$/, ''),
      host: url.host,
      apiVersion: config.apiVersion,
      azurePathStyle: config.azurePathStyle,
      region: config.region,
      ...(config.project ? { project: config.project } : {}),
      ...(config.anthropicVersion ? { anthropicVersion: config.anthropicVersion } : {}),
    },
    credentials,
    () => deps.clock.now(),
  );
  const pool = new Pool(url.origin, {
    connections: config.maxConnections,
    connect: { timeout: config.connectTimeoutMs },
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    pipelining: 1,
  });
  return { config, credentials, provider, pool, origin: url.origin };
}

/** Every catalog deployment → its bound upstream, resolved once. */
export function bindDeployments(
  catalog: Catalog,
  upstreams: ReadonlyMap<string, Upstream>,
): ReadonlyMap<string, BoundDeployment> {
  const out = new Map<string, BoundDeployment>();
  for (const m of catalog.values())
    for (const d of m.deployments) out.set(d.key, { deployment: d, upstream: upstreams.get(d.upstreamId)! });
  return out;
}
