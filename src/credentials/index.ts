// Credential sources: where an upstream's auth comes from (a key in the config or the
// environment, AWS keys, a Google service account that mints OAuth tokens). They do I/O (env,
// files, token endpoints), so they live here, outside the pure provider adapters, which receive
// only a `ProviderCredentials` to read.
import type { Clock } from '../clock/index.js';
import type { UpstreamConfig } from '../config/index.js';
import { EntenteError } from '../errors/index.js';
import type { Logger } from '../observability/index.js';
import type { AwsCredentials, ProviderCredentials } from '../providers/index.js';
import { loadServiceAccountKey, ServiceAccountTokenSource } from './google-service-account.js';

export {
  CLOUD_PLATFORM_SCOPE,
  loadServiceAccountKey,
  type ServiceAccountKey,
  ServiceAccountTokenSource,
  signAssertion,
} from './google-service-account.js';

export interface CredentialSource extends ProviderCredentials {
  /** Gets the first token where one is minted (so the gateway starts with one in hand). */
  start(): Promise<void>;
  stop(): void;
}

export function resolveCredentials(
  upstream: UpstreamConfig,
  env: NodeJS.ProcessEnv,
  clock: Clock,
  log: Logger,
): CredentialSource {
  const fromEnv = (name: string, what: string) => {
    const v = env[name];
    if (!v)
      throw new EntenteError(
        'env_missing',
        `upstream ${upstream.id}: environment variable ${name} (${what}) is not set`,
      );
    return v;
  };
  const auth = upstream.auth;
  const fixed = (apiKey: string | undefined, aws?: AwsCredentials): CredentialSource => ({
    bearer: () => apiKey,
    ...(aws ? { aws } : {}),
    start: () => Promise.resolve(),
    stop: () => {},
  });
  if (!auth) return fixed(undefined);
  if ('apiKeyEnv' in auth) return fixed(fromEnv(auth.apiKeyEnv, 'its API key'));
  if ('apiKey' in auth) return fixed(auth.apiKey);
  if ('awsAccessKeyIdEnv' in auth) {
    const token = auth.awsSessionTokenEnv
      ? fromEnv(auth.awsSessionTokenEnv, 'the AWS session token')
      : undefined;
    return fixed(undefined, {
      accessKeyId: fromEnv(auth.awsAccessKeyIdEnv, 'the AWS access key id'),
      secretAccessKey: fromEnv(auth.awsSecretAccessKeyEnv, 'the AWS secret access key'),
      ...(token ? { sessionToken: token } : {}),
    });
  }
  if ('googleServiceAccountFile' in auth) {
    const source = new ServiceAccountTokenSource(
      loadServiceAccountKey(auth.googleServiceAccountFile),
      log,
      clock,
    );
    return {
      bearer: () => source.current(),
      start: () => source.start(),
      stop: () => source.stop(),
    };
  }
  return fixed(undefined, { accessKeyId: auth.awsAccessKeyId, secretAccessKey: auth.awsSecretAccessKey });
}
