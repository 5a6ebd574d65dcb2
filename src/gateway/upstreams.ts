// One HTTP client per upstream: an undici Pool with keep-alive connections to its origin, and
// the adapter target (base path, key, api-version) its requests are built with. Keys come from
// the config or from environment variables named in it, never from code.
import { Pool } from 'undici';
import type { UpstreamConfig } from '../config/index.js';
import { type Logger, silentLogger } from '../observability/index.js';
import {
  type AdapterTarget,
  type AwsCredentials,
  adapters,
  loadServiceAccountKey,
  type ProviderAdapter,
  ServiceAccountTokenSource,
} from '../providers/index.js';

export interface Upstream {
  readonly config: UpstreamConfig;
  /** Vertex with a service account: keeps an OAuth token fresh (started by the gateway). */
  readonly tokenSource: ServiceAccountTokenSource | null;
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
  log: Logger = silentLogger,
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
  let aws: AwsCredentials | undefined;
  let tokenSource: ServiceAccountTokenSource | null = null;
  const fromEnv = (name: string, what: string) => {
    const v = env[name];
    if (!v)
      throw new UpstreamConfigError(
        `upstream ${config.id}: environment variable ${name} (${what}) is not set`,
      );
    return v;
  };
  const auth = config.auth;
  if (auth && 'apiKeyEnv' in auth) apiKey = fromEnv(auth.apiKeyEnv, 'its API key');
  else if (auth && 'apiKey' in auth) apiKey = auth.apiKey;
  else if (auth && 'awsAccessKeyIdEnv' in auth) {
    const token = auth.awsSessionTokenEnv
      ? fromEnv(auth.awsSessionTokenEnv, 'the AWS session token')
      : undefined;
    aws = {
      accessKeyId: fromEnv(auth.awsAccessKeyIdEnv, 'the AWS access key id'),
      secretAccessKey: fromEnv(auth.awsSecretAccessKeyEnv, 'the AWS secret access key'),
      ...(token ? { sessionToken: token } : {}),
    };
  } else if (auth && 'googleServiceAccountFile' in auth) {
    tokenSource = new ServiceAccountTokenSource(loadServiceAccountKey(auth.googleServiceAccountFile), log);
  } else if (auth && 'awsAccessKeyId' in auth) {
    aws = { accessKeyId: auth.awsAccessKeyId, secretAccessKey: auth.awsSecretAccessKey };
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
    tokenSource,
    adapter: adapters[config.provider],
    pool,
    origin: url.origin,
    basePath,
    apiKey,
    target: (deployment) => ({
      deployment,
      basePath,
      apiKey: tokenSource ? tokenSource.current() : apiKey,
      apiVersion: config.apiVersion,
      azurePathStyle: config.azurePathStyle,
      host: url.host,
      region: config.region,
      ...(config.project ? { project: config.project } : {}),
      ...(aws ? { aws } : {}),
      ...(config.anthropicVersion ? { anthropicVersion: config.anthropicVersion } : {}),
    }),
  };
}
