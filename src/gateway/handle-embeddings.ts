// POST /v1/embeddings: the same admission, route plan, failover loop and finish as chat, on the
// providers that serve embeddings (OpenAI, Azure, Bedrock Titan, Vertex AI). A deployment on a
// provider without embeddings, or one that cannot take this input, is skipped.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseEmbeddingsRequest } from '../canonical/index.js';
import { gatewayError } from '../errors/index.js';
import { type Exchange, readJsonBody } from '../http/index.js';
import { embeddingTokensBound } from '../limits/index.js';
import { isFailure, type ResponseContext } from '../providers/index.js';
import { admitLoad, admitModel, authenticate, isAdmitted } from './admit.js';
import type { GatewayContext } from './context.js';
import { runFailover } from './failover.js';
import { finish, finishBug, refuseDraining } from './finish.js';
import { admitLimits } from './limit.js';
import { errorEnding } from './outcome.js';
import { relayJson } from './relay-json.js';
import { RequestState } from './request-state.js';
import { planRoute } from './route-plan.js';
import { startRequestSpan } from './spans.js';

const MAX_RESPONSE_BYTES = 256 * 1_048_576; // 2,048 inputs × 3,072 floats as JSON fit well below

export function embeddingsHandler(gw: GatewayContext) {
  return async (req: IncomingMessage, res: ServerResponse, ex: Exchange): Promise<void> => {
    if (!admitLoad(gw, req, res, ex.requestId)) return;
    const caller = authenticate(gw, req, res, ex.requestId);
    if (!caller) return;
    const state = new RequestState(ex.requestId, ex.t0, gw.clock.now(), caller, 'embeddings');
    startRequestSpan(gw, state, req, '/v1/embeddings');
    if (gw.draining) {
      req.resume();
      return refuseDraining(gw, res, state);
    }
    try {
      await serveEmbeddings(gw, req, res, state);
    } catch (err) {
      finishBug(gw, res, state, err);
    }
  };
}

async function serveEmbeddings(
  gw: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  state: RequestState,
): Promise<void> {
  const caller = state.caller;
  const body = await readJsonBody(req, gw.config.server.bodyLimitBytes);
  if (!body.ok) return finish(gw, res, state, errorEnding(body.error));
  const parsed = parseEmbeddingsRequest(body.value);
  if (!parsed.ok)
    return finish(
      gw,
      res,
      state,
      errorEnding(gatewayError('invalid_request', parsed.message, { param: parsed.param || null })),
    );
  const emb = parsed.value;
  state.asked = emb;
  state.span.set('gen_ai.request.model', emb.model);
  const admitted = admitModel(gw, caller, emb, state.startedAtMs, state.surface);
  if (!isAdmitted(admitted)) return finish(gw, res, state, errorEnding(admitted));
  const rules = gw.limits.rules.matching(caller.keyId, caller.tenantId, admitted.model.name);
  if (!gw.capacity.empty || rules.length > 0) state.worstTokens = embeddingTokensBound(emb);
  if (rules.length > 0) {
    const worst = { tokensIn: state.worstTokens, tokensOut: 0 };
    const refused = await admitLimits(gw, res, state, admitted, rules, worst);
    if (refused) return finish(gw, res, state, errorEnding(refused));
  }
  const ctx: ResponseContext = {
    model: emb.model,
    id: state.requestId,
    created: Math.floor(state.startedAtMs / 1000),
  };
  const ending = await runFailover(gw, state, planRoute(gw, state, admitted), {
    build: (b) =>
      b.upstream.provider.embeddings?.build(emb, b.deployment.deployment) ?? {
        unsupported: true,
        param: 'model',
        message: `${b.upstream.provider.id} deployments do not serve embeddings.`,
      },
    attempt: (b, native) =>
      relayJson(gw, res, state, b, native, {
        maxResponseBytes: MAX_RESPONSE_BYTES,
        parse: (bytes) => {
          const r = b.upstream.provider.embeddings!.parse(bytes, emb, ctx);
          if (isFailure(r)) return r;
          // An answer without a token count is recorded with zero tokens, marked inexact.
          const usage =
            r.tokensInput === null
              ? null
              : {
                  tokensInputUncached: r.tokensInput,
                  tokensInputCached: 0,
                  tokensOutput: 0,
                  tokensReasoning: 0,
                };
          return { body: r.body, usage };
        },
      }),
    clientGone: () => res.destroyed,
  });
  finish(gw, res, state, ending);
}
