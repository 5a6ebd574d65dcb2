// An OpenAI-shaped error response → the failure kinds that failover decides on.
// Body: {"error":{"message","type","param","code"}} (providers.md 2.4). Azure reuses the shape,
// with `code` as a string such as "429" or "DeploymentNotFound" (providers.md 3.3).
import { retryAfterMs, type UpstreamFailure, type UpstreamFailureKind } from '../spec/index.js';

const decoder = new TextDecoder();

export function kindForStatus(status: number): UpstreamFailureKind {
  if (status === 429) return 'rate_limited';
  if (status === 400 || status === 413 || status === 422) return 'client';
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not_found';
  return 'server';
}

export function parseOpenAIError(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  body: Uint8Array,
): UpstreamFailure {
  let message = `upstream answered HTTP ${status}`;
  let code: string | null = null;
  let param: string | null = null;
  try {
    const json = JSON.parse(decoder.decode(body)) as {
      error?: { message?: unknown; code?: unknown; param?: unknown };
    };
    const e = json.error;
    if (e && typeof e === 'object') {
      if (typeof e.message === 'string') message = e.message;
      if (typeof e.code === 'string' || typeof e.code === 'number') code = String(e.code);
      if (typeof e.param === 'string') param = e.param;
    }
  } catch {
    // A non-JSON error body (a proxy's HTML page, say): keep the status-based message.
  }
  return {
    kind: kindForStatus(status),
    status,
    message,
    upstreamCode: code,
    param,
    retryAfterMs: retryAfterMs(headers),
  };
}
