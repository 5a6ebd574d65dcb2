// API keys on the wire: where a client presents one, how it is digested (only SHA-256 digests are
// ever stored or compared), and the constant-time check of the admin key.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** A new key: `sk-ent-` + 32 random bytes in base64url (256 bits). */
export function generateKey(): string {
  return `sk-ent-${randomBytes(32).toString('base64url')}`;
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** The presented key: `Authorization: Bearer <key>` (OpenAI clients) or `api-key` (Azure clients). */
export function presentedKey(headers: IncomingHttpHeaders): string | null {
  const auth = headers.authorization;
  if (auth !== undefined) {
    if (auth.length > 7 && auth.slice(0, 7).toLowerCase() === 'bearer ') return auth.slice(7).trim() || null;
    return null;
  }
  const k = headers['api-key'];
  return typeof k === 'string' && k.length > 0 ? k : null;
}

/** Whether the request presents the key whose SHA-256 is `expectedSha256` (constant time). */
export function presentsKey(headers: IncomingHttpHeaders, expectedSha256: string | undefined): boolean {
  const key = presentedKey(headers);
  if (!expectedSha256 || !key || key.length > 512) return false;
  return timingSafeEqual(Buffer.from(hashKey(key), 'hex'), Buffer.from(expectedSha256, 'hex'));
}
