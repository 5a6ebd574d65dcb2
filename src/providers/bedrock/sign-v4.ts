// AWS Signature Version 4 for one request (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html).
// Bedrock is not S3, so the canonical URI is the already-encoded path encoded once more.
// Checked against @smithy/signature-v4, the AWS SDK's own signer, in test/bedrock-sign.test.ts.
import { createHmac, hash } from 'node:crypto';
import type { AwsCredentials } from '../spec/index.js';

// One-shot hashing: about half the cost of createHash().update().digest() on small inputs.
const sha256Hex = (data: string) => hash('sha256', data, 'hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();

// x-amz-date changes once a second; formatting it is a measurable part of signing.
let lastSecond = -1;
let lastAmzDate = '';
function amzDateOf(nowMs: number): string {
  const s = Math.floor(nowMs / 1000);
  if (s !== lastSecond) {
    lastSecond = s;
    lastAmzDate = new Date(s * 1000)
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d{3}/, '');
  }
  return lastAmzDate;
}

/** Trimmed, inner runs of whitespace collapsed; most values have none, so the test comes first. */
function canonicalValue(v: string): string {
  return /\s/.test(v) ? v.trim().replace(/\s+/g, ' ') : v;
}

/** RFC 3986 encoding as AWS wants it: everything but unreserved characters. */
export function awsUriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export interface SignInput {
  readonly method: string;
  /** Path as sent on the wire (already percent-encoded), without the query. */
  readonly path: string;
  readonly query?: string;
  readonly host: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly region: string;
  readonly service: string;
  readonly credentials: AwsCredentials;
  readonly nowMs: number;
}

/**
 * HMAC-SHA256 under one fixed key (RFC 2104: H((K ^ opad) || H((K ^ ipad) || m))), with the padded
 * keys computed once. Per request this is two one-shot hashes, several times cheaper than a new
 * crypto Hmac object, which dominated the cost of signing. Nothing is allocated per message: it
 * is written after the inner pad in a buffer kept for the purpose, and the inner digest after the
 * outer pad. The inner digest is asked for as a binary (latin1) string, a character a byte: on
 * Node 20 a one-shot hash returned as a Buffer costs about four times as much.
 */
class FixedKeyHmac {
  readonly #inner = Buffer.alloc(64 + 1024, 0x36);
  readonly #outer = Buffer.alloc(64 + 32, 0x5c);
  constructor(key: Buffer) {
    // The signing key is a 32-byte HMAC output: shorter than the block, so used as is.
    for (let i = 0; i < key.length; i++) {
      this.#inner[i] = this.#inner[i]! ^ key[i]!;
      this.#outer[i] = this.#outer[i]! ^ key[i]!;
    }
  }
  hex(message: string): string {
    // A UTF-16 unit is at most 3 bytes of UTF-8; a string to sign is ASCII and far shorter.
    const room = this.#inner.length - 64;
    const inner =
      message.length * 3 <= room
        ? this.#inner.subarray(0, 64 + this.#inner.write(message, 64, 'utf8'))
        : Buffer.concat([this.#inner.subarray(0, 64), Buffer.from(message, 'utf8')]);
    this.#outer.write(hash('sha256', inner, 'binary'), 64, 'latin1');
    return hash('sha256', this.#outer, 'hex');
  }
}

// One signing key per (secret, day, region, service): it changes once a day.
const keyCache = new Map<string, FixedKeyHmac>();
let lastKeyId = '';
let lastKey: FixedKeyHmac | null = null;

function signingKey(secret: string, date: string, region: string, service: string): FixedKeyHmac {
  const id = `${date}\0${region}\0${service}\0${secret}`;
  if (id === lastKeyId && lastKey) return lastKey;
  let k = keyCache.get(id);
  if (!k) {
    k = new FixedKeyHmac(hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request'));
    if (keyCache.size > 64) keyCache.clear();
    keyCache.set(id, k);
  }
  lastKeyId = id;
  lastKey = k;
  return k;
}

// A path's canonical form, per path: an upstream's paths are few (a deployment and an operation).
const canonicalUris = new Map<string, string>();
function canonicalUriOf(path: string): string {
  let uri = canonicalUris.get(path);
  if (uri === undefined) {
    uri = path
      .split('/')
      .map((seg) => awsUriEncode(seg))
      .join('/');
    if (canonicalUris.size >= 1024) canonicalUris.clear();
    canonicalUris.set(path, uri);
  }
  return uri;
}

/** Returns the headers to add: host, x-amz-date, x-amz-content-sha256, [security token], authorization. */
export function signV4(input: SignInput): Record<string, string> {
  const amzDate = amzDateOf(input.nowMs);
  const date = amzDate.slice(0, 8);
  const payloadHash = sha256Hex(input.body);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.headers)) headers[k.toLowerCase()] = v;
  headers.host = input.host;
  headers['x-amz-date'] = amzDate;
  headers['x-amz-content-sha256'] = payloadHash;
  if (input.credentials.sessionToken) headers['x-amz-security-token'] = input.credentials.sessionToken;
  const names = Object.keys(headers).sort();
  const canonicalHeaders = names.map((n) => `${n}:${canonicalValue(headers[n]!)}\n`).join('');
  const signedHeaders = names.join(';');
  const canonicalUri = canonicalUriOf(input.path);
  const canonicalQuery = !input.query
    ? ''
    : input.query
        .split('&')
        .filter(Boolean)
        .map((kv) => {
          const [k, v = ''] = kv.split('=');
          return [awsUriEncode(decodeURIComponent(k!)), awsUriEncode(decodeURIComponent(v))] as const;
        })
        .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
        .map(([k, v]) => `${k}=${v}`)
        .join('&');
  const canonicalRequest = [
    input.method,
    canonicalUri,
    canonicalQuery,
    canonicalHeaders,
    signedHeaders,
    payloadHash,
  ].join('\n');
  const scope = `${date}/${input.region}/${input.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const signature = signingKey(input.credentials.secretAccessKey, date, input.region, input.service).hex(
    stringToSign,
  );
  const out: Record<string, string> = {
    host: input.host,
    'x-amz-date': amzDate,
    'x-amz-content-sha256': payloadHash,
    authorization: `AWS4-HMAC-SHA256 Credential=${input.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
  };
  if (input.credentials.sessionToken) out['x-amz-security-token'] = input.credentials.sessionToken;
  return out;
}
