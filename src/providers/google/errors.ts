// Google API errors: {"error":{"code","message","status","details"}} (providers.md 5.6). A 429's
// RetryInfo detail (`"retryDelay":"13s"`) says how long to wait.
import { retryAfterMs, type UpstreamFailure, type UpstreamFailureKind } from '../spec/index.js';

const decoder = new TextDecoder();

export function kindForGoogleStatus(status: number): UpstreamFailureKind {
  if (status === 429) return 'rate_limited';
  if (status === 400 || status === 413 || status === 422) return 'client';
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not_found';
  return 'server';
}

export function parseGoogleError(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  body: Uint8Array,
): UpstreamFailure {
  let message = `Google answered HTTP ${status}`;
  let code: string | null = null;
  let retry = retryAfterMs(headers);
  try {
    const json = JSON.parse(decoder.decode(body)) as {
      error?: { message?: unknown; status?: unknown; details?: { '@type'?: string; retryDelay?: string }[] };
    };
    const e = Array.isArray(json) ? (json[0] as typeof json).error : json.error;
    if (e) {
      if (typeof e.message === 'string') message = e.message;
      if (typeof e.status === 'string') code = e.status;
      for (const d of e.details ?? []) {
        const m = /^(\d+(?:\.\d+)?)s$/.exec(d?.retryDelay ?? '');
        if (d?.['@type']?.endsWith('google.rpc.RetryInfo') && m) retry = Math.ceil(Number(m[1]) * 1000);
      }
    }
  } catch {
    // not JSON
  }
  return {
    kind: kindForGoogleStatus(status),
    status,
    message,
    upstreamCode: code,
    param: null,
    retryAfterMs: retry,
  };
}
