// Bedrock HTTP errors: status + `x-amzn-errortype: Name[:namespace]` + {"message"} (providers.md 4.6).
import { retryAfterMs, type UpstreamFailure, type UpstreamFailureKind } from '../spec/index.js';

const decoder = new TextDecoder();

function kindOf(status: number, code: string | null): UpstreamFailureKind {
  if (status === 429 || code === 'ThrottlingException' || code === 'ServiceQuotaExceededException')
    return 'rate_limited';
  if (status === 400 || status === 413 || status === 422) return 'client';
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not_found';
  return 'server';
}

export function parseBedrockError(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  body: Uint8Array,
): UpstreamFailure {
  const h = headers['x-amzn-errortype'];
  let code = (Array.isArray(h) ? h[0] : h)?.split(':')[0] ?? null;
  let message = `Bedrock answered HTTP ${status}`;
  try {
    const json = JSON.parse(decoder.decode(body)) as {
      message?: unknown;
      Message?: unknown;
      __type?: unknown;
    };
    const m = json.message ?? json.Message;
    if (typeof m === 'string') message = m;
    if (!code && typeof json.__type === 'string') code = json.__type.split('#').pop()!.split(':')[0]!;
  } catch {
    // not JSON: keep the status message
  }
  const xAmz = headers['x-amz-retry-after'];
  const amzMs = Number(Array.isArray(xAmz) ? xAmz[0] : xAmz);
  return {
    kind: kindOf(status, code),
    status,
    message,
    upstreamCode: code,
    param: null,
    retryAfterMs: Number.isFinite(amzMs) && amzMs > 0 ? amzMs : retryAfterMs(headers),
  };
}
