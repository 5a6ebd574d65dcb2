// The JSON relay: send, read the whole answer, let the API's parser turn it into the client's
// body and usage, send it. When the client has left, the answer is still read to its end so that
// the usage the upstream bills is recorded.
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { TokenUsage } from '../canonical/index.js';
import { sendJsonBytes } from '../http/index.js';
import {
  badResponse,
  isFailure,
  type NativeRequest,
  transportFailure,
  type UpstreamFailure,
} from '../providers/index.js';
import { noteServedTier, noteUpstreamHeaders } from './capacity.js';
import type { GatewayContext } from './context.js';
import type { AttemptOutcome } from './outcome.js';
import type { RequestState } from './request-state.js';
import { failureOf, isResponse, send } from './upstream-call.js';
import type { BoundDeployment } from './upstreams.js';

/** What the API's parser makes of a 200 answer. */
export interface ParsedAnswer {
  /** The bytes for the client. */
  readonly body: string | Uint8Array;
  /** null when the upstream reported none (the record is then marked inexact). */
  readonly usage: TokenUsage | null;
  /** The capacity tier the cloud says served (ChatResult.tier). */
  readonly tier?: string;
}

export interface JsonRelayOptions {
  readonly maxResponseBytes: number;
  parse(body: Uint8Array): ParsedAnswer | UpstreamFailure;
}

export async function relayJson(
  gw: GatewayContext,
  res: ServerResponse,
  state: RequestState,
  b: BoundDeployment,
  native: NativeRequest,
  opts: JsonRelayOptions,
): Promise<AttemptOutcome> {
  // No AbortController here: undici's own timeouts bound the wait.
  const tUp = performance.now();
  const waited = () => {
    state.upstreamWaitMs += performance.now() - tUp;
  };
  const r = await send(gw, b, native, undefined);
  if (!isResponse(r)) {
    waited();
    return res.destroyed ? { kind: 'client_gone' } : { kind: 'failed', failure: r };
  }
  if (r.statusCode !== 200) {
    const outcome = await failureOf(b, r);
    waited();
    return outcome;
  }
  noteUpstreamHeaders(gw, state, b.deployment, r);
  let body: Buffer | null;
  try {
    body = await r.body.readAll(opts.maxResponseBytes);
  } catch {
    waited();
    return res.destroyed ? { kind: 'client_gone' } : { kind: 'failed', failure: transportFailure('connect') };
  }
  waited();
  const parsed = body ? opts.parse(body) : badResponse('the upstream response is too large');
  if (isFailure(parsed)) return { kind: 'failed', failure: parsed };
  state.deployment = b.deployment;
  state.usage = parsed.usage;
  noteServedTier(gw, state, parsed.tier);
  const exact = parsed.usage !== null;
  // The client left: the upstream still billed this answer, so its usage is recorded.
  if (res.destroyed)
    return { kind: 'served', status: 499, errorCode: 'client_closed', exact, healthy: true, deliver: null };
  const deliver = () =>
    sendJsonBytes(res, 200, parsed.body, servedHeaders(state, b, performance.now(), native));
  return { kind: 'served', status: 200, errorCode: null, exact, healthy: true, deliver };
}

/** Where the answer came from, for the client: cloud, region, deployment, attempts, overhead. */
export function servedHeaders(
  state: RequestState,
  b: BoundDeployment,
  now: number,
  native: NativeRequest,
): Record<string, string> {
  const d = b.deployment;
  const h: Record<string, string> = {
    'x-request-id': state.requestId,
    'x-entente-cloud': d.cloud,
    'x-entente-region': d.region,
    'x-entente-deployment': d.key,
    'x-entente-model-version': d.modelVersion,
    'x-entente-attempts': String(state.attempts),
    'x-entente-overhead-ms': (state.overheadUs(now) / 1000).toFixed(3),
  };
  if (state.capacity !== null) h['x-entente-capacity'] = state.capacity;
  if (state.spilledFrom !== null && state.spilledFrom !== state.capacity)
    h['x-entente-spillover-from'] = state.spilledFrom;
  // A header value must be visible ASCII: warnings can name parameters the client chose, so
  // anything else (non-Latin-1, CR/LF) is replaced, and the value is bounded.
  if (native.warnings && native.warnings.length > 0)
    h['x-entente-warnings'] = native.warnings
      .join('; ')
      .replace(/[^\x20-\x7e]/g, '?')
      .slice(0, 1024);
  return h;
}
