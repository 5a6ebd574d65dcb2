// OAuth access tokens for Vertex AI from a Google service-account key, the way Google's own
// libraries get them (https://developers.google.com/identity/protocols/oauth2/service-account):
// a JWT signed RS256 with the key, exchanged at the key's token_uri for an access token that
// lives an hour. The token is refreshed in the background at 80% of its life, so requests never
// wait for it; a failed refresh is retried, and the old token serves until it expires.
import { createSign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { Clock, Timer } from '../clock/index.js';
import { EntenteError } from '../errors/index.js';
import type { Logger } from '../observability/index.js';

const keySchema = z.looseObject({
  type: z.literal('service_account'),
  client_email: z.string().min(3),
  private_key: z.string().includes('PRIVATE KEY'),
  private_key_id: z.string().optional(),
  token_uri: z.string().url().default('https://oauth2.googleapis.com/token'),
});

export type ServiceAccountKey = z.infer<typeof keySchema>;

export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';

export function loadServiceAccountKey(file: string): ServiceAccountKey {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new EntenteError('config_unreadable', `${file}: ${(err as Error).message}`, { cause: err });
  }
  const parsed = keySchema.safeParse(json);
  if (!parsed.success)
    throw new EntenteError(
      'credentials_invalid',
      `${file} is not a Google service-account key: ${parsed.error.issues[0]!.message} at ${parsed.error.issues[0]!.path.join('.')}`,
    );
  return parsed.data;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** The signed JWT assertion for the token request. */
export function signAssertion(key: ServiceAccountKey, nowS: number, scope = CLOUD_PLATFORM_SCOPE): string {
  const header = b64url(
    JSON.stringify({ alg: 'RS256', typ: 'JWT', ...(key.private_key_id ? { kid: key.private_key_id } : {}) }),
  );
  const claims = b64url(
    JSON.stringify({ iss: key.client_email, scope, aud: key.token_uri, iat: nowS, exp: nowS + 3600 }),
  );
  const signature = createSign('RSA-SHA256').update(`${header}.${claims}`).sign(key.private_key);
  return `${header}.${claims}.${b64url(signature)}`;
}

export class ServiceAccountTokenSource {
  #token: string | undefined;
  #expiresAtMs = 0;
  #timer: Timer | null = null;
  #stopped = false;

  constructor(
    readonly key: ServiceAccountKey,
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly retryMs = 30_000,
  ) {}

  /** When the next refresh is due (Unix ms), for tests and the console; null before start. */
  nextRefreshAtMs: number | null = null;

  /** The current access token, or undefined when none is valid. */
  current(): string | undefined {
    return this.#token && this.clock.now() < this.#expiresAtMs ? this.#token : undefined;
  }

  /** Fetches the first token (so the gateway starts with one) and keeps it fresh. */
  async start(): Promise<void> {
    await this.#refresh();
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
  }

  async #refresh(): Promise<void> {
    let nextMs = this.retryMs;
    try {
      const r = await fetch(this.key.token_uri, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
          assertion: signAssertion(this.key, Math.floor(this.clock.now() / 1000)),
        }),
        signal: AbortSignal.timeout(10_000),
      });
      const body = (await r.json()) as { access_token?: unknown; expires_in?: unknown; error?: unknown };
      if (!r.ok || typeof body.access_token !== 'string' || typeof body.expires_in !== 'number')
        throw new EntenteError(
          'token_refresh_failed',
          `token endpoint answered HTTP ${r.status}: ${JSON.stringify(body.error ?? body)}`,
        );
      this.#token = body.access_token;
      this.#expiresAtMs = this.clock.now() + body.expires_in * 1000;
      nextMs = Math.max(1_000, body.expires_in * 800);
    } catch (err) {
      this.log.warn('could not refresh the Google access token; retrying', {
        account: this.key.client_email,
        code: err instanceof EntenteError ? err.code : 'token_refresh_failed',
        error: (err as Error).message,
      });
    }
    if (!this.#stopped) {
      this.nextRefreshAtMs = this.clock.now() + nextMs;
      this.#timer = this.clock.setTimeout(() => void this.#refresh(), nextMs);
    }
  }
}
