// One HTTP exchange with an upstream: send the native request on its pool, read bodies with a
// byte limit, and turn a non-200 answer into the provider's classified failure. Transport
// failures come back as values of the same failure union, never as exceptions.
import type { NativeRequest, UpstreamFailure } from '../providers/index.js';
import { transportFailure } from '../providers/index.js';
import type { GatewayContext } from './context.js';
import type { AttemptOutcome } from './outcome.js';
import type { BoundDeployment } from './upstreams.js';

const MAX_ERROR_BODY_BYTES = 65_536;

export interface UpstreamResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: AsyncIterable<Buffer> & { destroy(err?: Error): unknown };
}

export function isResponse(x: UpstreamResponse | UpstreamFailure): x is UpstreamResponse {
  return (x as UpstreamResponse).statusCode !== undefined;
}

export async function send(
  gw: GatewayContext,
  b: BoundDeployment,
  native: NativeRequest,
  signal: AbortSignal | undefined,
): Promise<UpstreamResponse | UpstreamFailure> {
  const up = b.upstream;
  try {
    const r = await up.pool.request({
      method: native.method,
      path: native.path,
      headers: native.headers,
      body: native.body,
      headersTimeout: Math.min(up.config.headersTimeoutMs, gw.config.server.requestTimeoutMs),
      bodyTimeout: up.config.bodyIdleTimeoutMs,
      ...(signal ? { signal } : {}),
    });
    return r as unknown as UpstreamResponse;
  } catch (err) {
    const e = err as { code?: string; cause?: { code?: string }; message?: string };
    const code = e.code;
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT')
      return transportFailure('timeout');
    // The OS's own code (ECONNREFUSED, ENOTFOUND, ECONNRESET…) and the host, for the logs and the
    // attempt span; the tenant's message names the code only.
    const os = e.cause?.code ?? code ?? 'error';
    return {
      ...transportFailure('connect', `${os} from ${hostOf(up.config.baseUrl)}: ${e.message ?? ''}`.trim()),
      upstreamCode: os,
    };
  }
}

/** `host[:port]` of an upstream URL, for logs and attempt records. */
export function hostOf(baseUrl: string): string {
  try {
    return new URL(baseUrl).host;
  } catch {
    return baseUrl;
  }
}

/** The whole body, or null past `limit` bytes. Throws when the connection breaks. */
export async function readAll(body: AsyncIterable<Buffer>, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body) {
    size += c.length;
    if (size > limit) return null;
    chunks.push(c);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}

/** A non-200 answer, classified by the provider: the request's own fault, or a reason to fail over. */
export async function failureOf(b: BoundDeployment, r: UpstreamResponse): Promise<AttemptOutcome> {
  let body: Buffer;
  try {
    body = (await readAll(r.body, MAX_ERROR_BODY_BYTES)) ?? Buffer.alloc(0);
  } catch {
    body = Buffer.alloc(0);
  }
  const failure = b.upstream.provider.parseError(r.statusCode, r.headers, body);
  return failure.kind === 'client' ? { kind: 'client_error', failure } : { kind: 'failed', failure };
}
