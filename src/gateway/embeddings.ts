// POST /v1/embeddings: the same agreement checks, routing, failover and usage record as chat, on
// the providers that serve embeddings (OpenAI, Azure, Bedrock Titan, Vertex AI). A deployment on
// a provider without embeddings, or one that cannot take this input, is skipped.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { parseEmbeddingsRequest } from '../canonical/index.js';
import { gatewayError } from '../errors/index.js';
import { priceOf } from '../ledger/index.js';
import { isFailure, isUnsupported, type ResponseContext, type Unsupported } from '../providers/index.js';
import { orderDeployments } from '../routing/index.js';
import type { Caller } from './auth.js';
import {
  type Attempted,
  admitModel,
  attemptSpanFor,
  endAttemptSpan,
  exhausted,
  fail,
  NO_BODY,
  RequestState,
  readAll,
  readJsonBody,
  record,
  send,
  servedHeaders,
  startRequestSpan,
  upstreamFailure,
} from './chat-completions.js';
import type { GatewayContext } from './context.js';
import { sendJsonBytes } from './respond.js';

const MAX_RESPONSE_BYTES = 256 * 1_048_576; // 2,048 inputs × 3,072 floats as JSON fit well below

export async function handleEmbeddings(
  gw: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
  t0: number,
  caller: Caller,
): Promise<void> {
  const state = new RequestState(requestId, t0, Date.now(), caller);
  startRequestSpan(gw, state, req, '/v1/embeddings', 'embeddings');
  const json = await readJsonBody(gw, req, res, state);
  if (json === NO_BODY) return;
  const parsed = parseEmbeddingsRequest(json);
  if (!parsed.ok)
    return fail(
      gw,
      res,
      state,
      null,
      gatewayError('invalid_request', parsed.message, { param: parsed.param || null }),
    );
  const emb = parsed.value;
  state.span.set('gen_ai.request.model', emb.model);
  const admitted = admitModel(gw, res, state, emb);
  if (!admitted) return;
  const { model } = admitted;
  const priced = (modelVersion: string) =>
    !gw.refuseUnpriced || priceOf(gw.priceBooks!, model.name, modelVersion, state.startedAtMs) !== null;
  if (model.deployments.length > 0 && !model.deployments.some((d) => priced(d.modelVersion)))
    return fail(
      gw,
      res,
      state,
      emb,
      gatewayError(
        'model_unpriced',
        `No price book prices '${model.name}'; refusing rather than serving it unbilled.`,
        { param: 'model' },
      ),
    );

  const ctx: ResponseContext = {
    model: emb.model,
    id: requestId,
    created: Math.floor(state.startedAtMs / 1000),
  };
  const tried: Attempted[] = [];
  let refused: Unsupported | null = null;
  let earliestBackMs = Number.POSITIVE_INFINITY;
  for (const d of orderDeployments(model, Math.random)) {
    if (state.attempts >= gw.config.routing.maxAttempts) break;
    if (!priced(d.modelVersion)) continue;
    const up = gw.upstreams.get(d.upstreamId)!;
    const adapter = up.adapter.embeddings;
    if (!adapter) {
      refused ??= {
        unsupported: true,
        param: 'model',
        message: `${up.adapter.id} deployments do not serve embeddings.`,
      };
      continue;
    }
    const availability = gw.health.acquire(d.key, Date.now());
    if (!availability.available) {
      earliestBackMs = Math.min(earliestBackMs, availability.untilMs);
      continue;
    }
    const native = adapter.build(emb, up.target(d.deployment));
    if (isUnsupported(native)) {
      gw.health.release(d.key);
      refused ??= native;
      continue;
    }
    state.attempts++;
    if (gw.tracer.enabled) state.attemptSpan = attemptSpanFor(gw, state, d, up.adapter.id, up.origin);
    const tUp = performance.now();
    const r = await send(gw, d, native, undefined);
    let failure: Attempted['failure'];
    if (typeof r === 'string') failure = r;
    else if (r.statusCode !== 200) {
      const outcome = await upstreamFailure(gw, d, r);
      if (outcome.kind === 'client_error') {
        state.upstreamWaitMs += performance.now() - tUp;
        gw.health.release(d.key);
        state.deployment = d;
        const f = outcome.failure;
        if (state.attemptSpan) endAttemptSpan(state.attemptSpan, state, outcome);
        state.attemptSpan = null;
        return fail(
          gw,
          res,
          state,
          emb,
          { code: 'upstream_client_error', message: f.message, param: f.param, status: f.status },
          f.upstreamCode,
        );
      }
      failure = outcome.kind === 'failed' ? outcome.failure : 'connect';
    } else {
      let body: Buffer | null = null;
      try {
        body = await readAll(r.body, MAX_RESPONSE_BYTES);
      } catch {
        body = null;
      }
      const result = body ? adapter.parse(body, emb, ctx) : null;
      if (result && !isFailure(result)) {
        state.upstreamWaitMs += performance.now() - tUp;
        gw.health.success(d.key);
        state.deployment = d;
        const tokens = result.tokensInput ?? 0;
        state.usage = {
          tokensInputUncached: tokens,
          tokensInputCached: 0,
          tokensOutput: 0,
          tokensReasoning: 0,
        };
        sendJsonBytes(res, 200, result.body, servedHeaders(state, d, performance.now(), native));
        return record(
          gw,
          state,
          emb,
          res.destroyed ? 499 : 200,
          res.destroyed ? 'client_closed' : null,
          result.tokensInput !== null,
        );
      }
      failure = result && isFailure(result) ? result : 'connect';
    }
    state.upstreamWaitMs += performance.now() - tUp;
    if (state.attemptSpan) endAttemptSpan(state.attemptSpan, state, { kind: 'failed', failure });
    state.attemptSpan = null;
    const kind = typeof failure === 'object' ? failure.kind : failure;
    const retryAfter = typeof failure === 'object' ? failure.retryAfterMs : null;
    const capped = retryAfter === null ? null : Math.min(retryAfter, gw.config.routing.maxRetryAfterMs);
    gw.health.failure(d.key, Date.now(), capped, kind);
    gw.metrics.failovers.inc({ cloud: d.cloud, reason: kind });
    tried.push({ deployment: d, failure });
    if (capped !== null) earliestBackMs = Math.min(earliestBackMs, Date.now() + capped);
  }
  if (refused && tried.length === 0 && !Number.isFinite(earliestBackMs))
    return fail(
      gw,
      res,
      state,
      emb,
      gatewayError('unsupported_parameter', refused.message, { param: refused.param }),
    );
  return fail(gw, res, state, emb, exhausted(tried, earliestBackMs, model.excluded));
}
