// POST /v1/chat/completions and POST /v1/responses: parse (the Responses API translated to the
// canonical chat request), admit, plan, fail over across deployments with the JSON or SSE relay,
// finish. The stages do the work; this file only strings them together.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type ChatRequest, parseChatRequest } from '../canonical/index.js';
import { type GatewayError, gatewayError } from '../errors/index.js';
import { type Exchange, readJsonBody } from '../http/index.js';
import { outputTokensBound, promptTokensBound } from '../limits/index.js';
import { isFailure, type ResponseContext } from '../providers/index.js';
import { type Admitted, admitLoad, admitModel, authenticate, isAdmitted } from './admit.js';
import type { GatewayContext } from './context.js';
import { type ClientEncoder, chatEncoder, responsesEncoder } from './encoders.js';
import { runFailover } from './failover.js';
import { finish, finishBug, refuseDraining } from './finish.js';
import { admitLimits } from './limit.js';
import { errorEnding } from './outcome.js';
import { relayJson } from './relay-json.js';
import { SseRelay } from './relay-sse.js';
import { RequestState } from './request-state.js';
import { responsesToChat } from './responses/to-chat.js';
import { planRoute } from './route-plan.js';
import { startRequestSpan } from './spans.js';

const MAX_RESPONSE_BYTES = 64 * 1_048_576;

type ClientApi = 'chat' | 'responses';

interface ParsedChat {
  readonly chat: ChatRequest;
  readonly encoderFor: () => ClientEncoder;
}

export function chatHandler(gw: GatewayContext, api: ClientApi) {
  const path = api === 'responses' ? '/v1/responses' : '/v1/chat/completions';
  return async (req: IncomingMessage, res: ServerResponse, ex: Exchange): Promise<void> => {
    if (!admitLoad(gw, req, res, ex.requestId)) return;
    const caller = authenticate(gw, req, res, ex.requestId);
    if (!caller) return;
    const state = new RequestState(ex.requestId, ex.t0, gw.clock.now(), caller, api);
    startRequestSpan(gw, state, req, path);
    if (gw.draining) {
      req.resume();
      return refuseDraining(gw, res, state);
    }
    try {
      await serveChat(gw, req, res, state, api);
    } catch (err) {
      finishBug(gw, res, state, err);
    }
  };
}

async function serveChat(
  gw: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  state: RequestState,
  api: ClientApi,
): Promise<void> {
  const body = await readJsonBody(req, gw.config.server.bodyLimitBytes);
  if (!body.ok) return finish(gw, res, state, errorEnding(body.error));
  const parsed = parseChat(body.value, api, state);
  if (!isParsed(parsed)) return finish(gw, res, state, errorEnding(parsed));
  const { encoderFor } = parsed;
  state.asked = parsed.chat;
  state.span.set('gen_ai.request.model', parsed.chat.model);
  if (gw.config.observability.logPrompts) state.prompt = JSON.stringify(parsed.chat.messages).slice(0, 4096);
  const admitted = admitModel(gw, state.caller, parsed.chat, state.startedAtMs, state.surface);
  if (!isAdmitted(admitted)) return finish(gw, res, state, errorEnding(admitted));
  const chat = await limitChat(gw, res, state, admitted, parsed.chat);
  if (!isChat(chat)) return finish(gw, res, state, errorEnding(chat));
  const ctx: ResponseContext = {
    model: chat.model,
    id: `chatcmpl-${state.requestId}`,
    created: Math.floor(state.startedAtMs / 1000),
  };
  const ending = await runFailover(gw, state, planRoute(gw, state, admitted), {
    build: (b, hints) => b.upstream.provider.buildChat(chat, b.deployment.deployment, hints),
    attempt: (b, native) => {
      const enc = encoderFor();
      if (chat.stream === true) return new SseRelay(gw, res, state, b, native).run(chat, ctx, enc);
      return relayJson(gw, res, state, b, native, {
        maxResponseBytes: MAX_RESPONSE_BYTES,
        parse: (bytes) => {
          const r = b.upstream.provider.parseChat(bytes, ctx);
          if (isFailure(r)) return r;
          return { body: enc.json(r.body), usage: r.usage, ...(r.tier ? { tier: r.tier } : {}) };
        },
      });
    },
    clientGone: () => res.destroyed,
  });
  finish(gw, res, state, ending);
}

/**
 * Reserves the request's worst case on the limits that count it. A request that names no output
 * bound is sent with the configured default (said in x-entente-max-tokens), so the worst case
 * holds.
 */
async function limitChat(
  gw: GatewayContext,
  res: ServerResponse,
  state: RequestState,
  admitted: Admitted,
  asked: ChatRequest,
): Promise<ChatRequest | GatewayError> {
  const rules = gw.limits.rules.matching(state.caller.keyId, state.caller.tenantId, admitted.model.name);
  // Nothing counts this request: no bound to compute (the common path stays free).
  if (rules.length === 0 && gw.capacity.empty) return asked;
  const out = outputTokensBound(asked, gw.limits.defaultMaxTokens);
  if (rules.length === 0) {
    state.worstTokens = promptTokensBound(asked) + out.tokens;
    return asked;
  }
  let chat = asked;
  if (out.applied !== null && rules.some((r) => r.tpm !== null || r.budget !== null)) {
    chat = { ...asked, max_completion_tokens: out.applied };
    res.setHeader('x-entente-max-tokens', String(out.applied));
  }
  const worst = { tokensIn: promptTokensBound(chat), tokensOut: out.tokens };
  state.worstTokens = worst.tokensIn + worst.tokensOut;
  const refused = await admitLimits(gw, res, state, admitted, rules, worst);
  return refused ?? chat;
}

function isChat(x: ChatRequest | GatewayError): x is ChatRequest {
  return (x as ChatRequest).messages !== undefined;
}

function parseChat(json: unknown, api: ClientApi, state: RequestState): ParsedChat | GatewayError {
  let body = json;
  let encoderFor: () => ClientEncoder = () => chatEncoder;
  let responses = null;
  if (api === 'responses') {
    const t = responsesToChat(json);
    if (!t.ok)
      return gatewayError(t.unsupported ? 'unsupported_parameter' : 'invalid_request', t.message, {
        param: t.param || null,
      });
    body = t.chat;
    responses = t.request;
  }
  const parsed = parseChatRequest(body);
  if (!parsed.ok)
    return gatewayError('invalid_request', parsed.error.message, { param: parsed.error.param || null });
  if (responses)
    encoderFor = responsesEncoder({
      id: `resp_${state.requestId}`,
      createdAt: Math.floor(state.startedAtMs / 1000),
      model: parsed.value.model,
      request: responses,
    });
  return { chat: parsed.value, encoderFor };
}

function isParsed(x: ParsedChat | GatewayError): x is ParsedChat {
  return (x as ParsedChat).chat !== undefined;
}
