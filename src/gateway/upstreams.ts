// One HTTP client per upstream: an undici Pool with keep-alive connections to its origin, and
// the adapter target (base path, key, api-version) its requests are built with. Keys come from
// the config or from environment variables named in it, never from code.
import { Pool } from 'undici';
import type { UpstreamConfig } from '../config/index.js';
import { type AdapterTarget, adapters, type ProviderAdapter } from '../providers/index.js';

export interface Upstream {
  readonly config: UpstreamConfig;
  readonly adapter: ProviderAdapter;
  readonly pool: Pool;
  readonly origin: string;
  readonly basePath: string;
  readonly apiKey: string | undefined;
  target(deployment: string): AdapterTarget;
}

export class UpstreamConfigError extends Error {}

export function createUpstream(
  config: UpstreamConfig,
  simUrls: ReadonlyMap<string, string>,
  env: NodeJS.ProcessEnv,
): Upstream {
  let base = config.baseUrl;
  if (base.startsWith('sim://')) {
    const url = simUrls.get(base.slice(6));
    if (!url)
      throw new UpstreamConfigError(`upstream ${config.id}: simulator ${base.slice(6)} is not running`);
    // The OpenAI simulator serves under /v1, as api.openai.com does; Azure's under /openai.
    base = config.provider === 'openai' ? `${url}/v1` : url;
  }
  const url = new URL(base);
  let apiKey: string | undefined;
  if (config.auth && 'apiKeyEnv' in config.auth) {
    apiKey = env[config.auth.apiKeyEnv];
    if (!apiKey) {
      throw new UpstreamConfigError(
        `upstream ${config.id}: environment variable ${config.auth.apiKeyEnv} (its API key) is not set`,
      );
    }
  } else if (config.auth) {
    apiKey = config.auth.apiKey;
  }
  const basePath = url.pathname.replace(/\/+$/, '');
  const pool = new Pool(url.origin, {
    connections: config.maxConnections,
    connect: { timeout: config.connectTimeoutMs },
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    pipelining: 1,
  });
  return {
    config,
    adapter: adapters[config.provider],
    pool,
    origin: url.origin,
    basePath,
    apiKey,
    target: (deployment) => ({
      deployment,
      basePath,
      apiKey,
      apiVersion: config.apiVersion,
      azurePathStyle: config.azurePathStyle,
    }),
  };
}
