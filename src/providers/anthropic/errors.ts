// Anthropic errors: {"type":"error","error":{"type","message"},"request_id"} (providers.md 6.5).
// 529 overloaded_error is a server failure: fail over.
import { retryAfterMs, type UpstreamFailure } from '../spec/index.js';
import { kindForAnthropicError } from './stream.js';

const decoder = new TextDecoder();

export function parseAnthropicError(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  body: Uint8Array,
): UpstreamFailure {
  let message = `Anthropic answered HTTP ${status}`;
  let type: string | undefined;
  try {
    const json = JSON.parse(decoder.decode(body)) as { error?: { type?: unknown; message?: unknown } };
    if (typeof json.error?.message === 'string') message = json.error.message;
    if (typeof json.error?.type === 'string') type = json.error.type;
  } catch {
    // not JSON
  }
  const byStatus =
    status === 429
      ? 'rate_limited'
      : status === 400 || status === 413 || status === 422
        ? 'client'
        : status === 401 || status === 403
          ? 'auth'
          : status === 404
            ? 'not_found'
            : 'server';
  return {
    kind: type ? kindForAnthropicError(type) : byStatus,
    status,
    message,
    upstreamCode: type ?? null,
    param: null,
    retryAfterMs: retryAfterMs(headers),
  };
}
