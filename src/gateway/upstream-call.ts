// One HTTP exchange with an upstream: send the native request on its pool, read bodies with a
// byte limit, and turn a non-200 answer into the provider's classified failure. Transport
// failures come back as values of the same failure union, never as exceptions.
import type { NativeRequest, UpstreamFailure } from '../providers/index.js';
import { transportFailure } from '../providers/index.js';
import type { GatewayContext } from './context.js';
import type { AttemptOutcome } from './outcome.js';
import { type ExchangeAbort, ExchangeHandler, type UpstreamHead } from './upstream-exchange.js';
import type { BoundDeployment } from './upstreams.js';

const MAX_ERROR_BODY_BYTES = 65_536;

export function isResponse(x: UpstreamHead | UpstreamFailure): x is UpstreamHead {
  return (x as UpstreamHead).statusCode !== undefined;
}

export function send(
  gw: GatewayContext,
  b: BoundDeployment,
  native: NativeRequest,
  abort: ExchangeAbort | undefined,
): Promise<UpstreamHead | UpstreamFailure> {
  const up = b.upstream;
  return new Promise((resolve) => {
    const handler = new ExchangeHandler(
      (r) => resolve(r instanceof Error ? failureOfError(up.config.baseUrl, r) : r),
      abort,
    );
    up.pool.dispatch(
      {
        origin: up.origin,
        method: native.method,
        path: native.path,
        headers: native.headers,
        body: native.body,
        headersTimeout: Math.min(up.config.headersTimeoutMs, gw.config.server.requestTimeoutMs),
        bodyTimeout: up.config.bodyIdleTimeoutMs,
      },
      handler,
    );
  });
}

/** A transport error before the answer's head: a timeout, or the OS's reason the connection failed. */
function failureOfError(baseUrl: string, err: Error): UpstreamFailure {
  const e = err as { code?: string; cause?: { code?: string }; message?: string };
  const code = e.code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT')
    return transportFailure('timeout');
  // The OS's own code (ECONNREFUSED, ENOTFOUND, ECONNRESET…) and the host, for the logs and the
  // attempt span; the tenant's message names the code only.
  const os = e.cause?.code ?? code ?? 'error';
  return {
    ...transportFailure('connect', `${os} from ${hostOf(baseUrl)}: ${e.message ?? ''}`.trim()),
    upstreamCode: os,
  };
}

/** `host[:port]` of an upstream URL, for logs and attempt records. */
export function hostOf(baseUrl: string): string {
  try {
    return new URL(baseUrl).host;
  } catch {
    return baseUrl;
  }
}

/** A non-200 answer, classified by the provider: the request's own fault, or a reason to fail over. */
export async function failureOf(b: BoundDeployment, r: UpstreamHead): Promise<AttemptOutcome> {
  let body: Buffer;
  try {
    body = (await r.body.readAll(MAX_ERROR_BODY_BYTES)) ?? Buffer.alloc(0);
  } catch {
    body = Buffer.alloc(0);
  }
  const failure = b.upstream.provider.parseError(r.statusCode, r.headers, body);
  return failure.kind === 'client' ? { kind: 'client_error', failure } : { kind: 'failed', failure };
}
