// POST /v1/chat/completions: validate, route, try deployments in order, pass the answer through.
// Failover happens only before the first byte reaches the client; after it, a broken upstream
// becomes an error event in the stream (the client has already seen part of an answer, and a
// second model's answer spliced onto it would be wrong).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { type ChatRequest, parseChatRequest, type TokenUsage, zeroUsage } from '../canonical/index.js';
import { errorBody, type GatewayError, gatewayError } from '../errors/index.js';
import { EventStreamEventParser } from '../eventstream/index.js';
import { priceOf } from '../ledger/index.js';
import { noopTracer, parseTraceparent, type Span } from '../observability/index.js';
import {
  badResponse,
  isFailure,
  isUnsupported,
  type NativeRequest,
  type ResponseContext,
  type Unsupported,
  type UpstreamFailure,
} from '../providers/index.js';
import type { CatalogDeployment } from '../routing/index.js';
import { type Exclusion, orderDeployments } from '../routing/index.js';
import { DONE_FRAME, frameData, SseParser } from '../sse/index.js';
import { type Caller, mayCall } from './auth.js';
import type { GatewayContext } from './context.js';
import { readBody } from './read-body.js';
import { sendError, sendJsonBytes } from './respond.js';
import { type ResponseShell, ResponsesStreamEncoder, responseFromCompletion } from './responses/from-chat.js';
import { responsesToChat } from './responses/to-chat.js';

/** Which API the client speaks; the routing, adapters and usage record are the same for both. */
export type ClientApi = 'chat' | 'responses';

/** Turns the canonical answer (chat.completion, chunk payloads) into what the client's API sends. */
interface ClientEncoder {
  /** The stream mappers must emit the usage chunk, whatever the client asked. */
  readonly forceUsage: boolean;
  json(body: string | Uint8Array): string | Uint8Array;
  frames(frames: readonly string[]): string;
  end(): string;
  error(code: GatewayError['code'], message: string | undefined): string;
}

const chatEncoder: ClientEncoder = {
  forceUsage: false,
  json: (body) => body,
  frames: (frames) =>
    frames.length === 1 ? frameData(frames[0]!) : frames.map((f) => frameData(f)).join(''),
  end: () => DONE_FRAME,
  error: (code, message) => frameData(errorBody(gatewayError(code, message))),
};

function responsesEncoder(shell: ResponseShell): () => ClientEncoder {
  return () => {
    const stream = new ResponsesStreamEncoder(shell);
    return {
      forceUsage: true,
      json: (body) => responseFromCompletion(shell, body),
      frames: (frames) => stream.frames(frames),
      end: () => stream.end(),
      error: (code, message) => stream.error(code, message ?? code),
    };
  };
}

const MAX_ERROR_BODY_BYTES = 65_536;
const MAX_RESPONSE_BYTES = 64 * 1_048_576;

export interface Attempted {
  readonly deployment: CatalogDeployment;
  readonly failure: UpstreamFailure | 'timeout' | 'connect';
}

/** What the usage record needs of a request: the model asked for, and whether it streamed. */
type Recorded = { readonly model: string; readonly stream?: boolean | null | undefined };

/** Per-request bookkeeping, folded into the usage record at the end. */
export class RequestState {
  /** The request's trace span (a shared no-op when tracing is off). */
  span: Span = noopTracer.start('', 'internal');
  /** The open span of the upstream attempt in progress, when tracing. */
  attemptSpan: Span | null = null;
  /** The messages, for the access log, only when observability.logPrompts is on. */
  prompt: string | null = null;
  /** A stream's overhead is what the gateway added before the first byte reached the client. */
  firstByteOverheadUs: number | null = null;
  upstreamWaitMs = 0;
  attempts = 0;
  deployment: CatalogDeployment | null = null;
  usage: TokenUsage | null = null;
  constructor(
    readonly requestId: string,
    readonly t0: number,
    readonly startedAtMs: number,
    readonly caller: Caller,
  ) {}
  overheadUs(now: number): number {
    if (this.firstByteOverheadUs !== null) return this.firstByteOverheadUs;
    return Math.max(0, Math.round((now - this.t0 - this.upstreamWaitMs) * 1000));
  }
}

export type AttemptOutcome =
  | { readonly kind: 'served' }
  | { readonly kind: 'failed'; readonly failure: UpstreamFailure | 'timeout' | 'connect' }
  | { readonly kind: 'client_error'; readonly failure: UpstreamFailure }
  | { readonly kind: 'client_gone' };

export async function handleChatCompletions(
  gw: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
  t0: number,
  caller: Caller,
  api: ClientApi = 'chat',
): Promise<void> {
  const state = new RequestState(requestId, t0, Date.now(), caller);
  const path = api === 'responses' ? '/v1/responses' : '/v1/chat/completions';
  startRequestSpan(gw, state, req, path, 'chat');
  const json = await readJsonBody(gw, req, res, state);
  if (json === NO_BODY) return;
  let encoderFor: () => ClientEncoder = () => chatEncoder;
  let body = json;
  let responsesRequest = null;
  if (api === 'responses') {
    const t = responsesToChat(json);
    if (!t.ok) {
      return fail(
        gw,
        res,
        state,
        null,
        gatewayError(t.unsupported ? 'unsupported_parameter' : 'invalid_request', t.message, {
          param: t.param || null,
        }),
      );
    }
    body = t.chat;
    responsesRequest = t.request;
  }
  const parsed = parseChatRequest(body);
  if (!parsed.ok) {
    return fail(
      gw,
      res,
      state,
      null,
      gatewayError('invalid_request', parsed.error.message, { param: parsed.error.param || null }),
    );
  }
  const chat = parsed.value;
  state.span.set('gen_ai.request.model', chat.model);
  if (gw.config.observability.logPrompts) state.prompt = JSON.stringify(chat.messages).slice(0, 4096);
  if (responsesRequest) {
    encoderFor = responsesEncoder({
      id: `resp_${requestId}`,
      createdAt: Math.floor(state.startedAtMs / 1000),
      model: chat.model,
      request: responsesRequest,
    });
  }
  const admitted = admitModel(gw, res, state, chat);
  if (!admitted) return;
  const { model, decision } = admitted;
  if (model.deployments.length === 0) {
    const first = model.excluded[0];
    const why = model.excluded.map((x) => `${x.deployment.key}: ${x.reason}`).join('; ');
    return fail(
      gw,
      res,
      state,
      chat,
      first
        ? gatewayError(first.code, `No deployment of '${model.name}' may serve under the agreement: ${why}`, {
            param: 'model',
          })
        : gatewayError('model_not_found', `The model '${model.name}' has no deployment.`, { param: 'model' }),
    );
  }

  // Fail closed on price: never serve what the ledger could not bill.
  const priced = (d: CatalogDeployment) =>
    !gw.refuseUnpriced || priceOf(gw.priceBooks!, model.name, d.modelVersion, state.startedAtMs) !== null;
  if (gw.refuseUnpriced && !model.deployments.some(priced)) {
    return fail(
      gw,
      res,
      state,
      chat,
      gatewayError(
        'model_unpriced',
        `No price book prices '${model.name}' (${[...new Set(model.deployments.map((d) => d.modelVersion))].join(', ')}); refusing rather than serving it unbilled.`,
        { param: 'model' },
      ),
    );
  }

  const stream = chat.stream === true;
  const maxAttempts = gw.config.routing.maxAttempts;
  const tried: Attempted[] = [];
  let refused: Unsupported | null = null;
  let earliestBackMs = Number.POSITIVE_INFINITY;
  const ctx: ResponseContext = {
    model: chat.model,
    id: `chatcmpl-${requestId}`,
    created: Math.floor(state.startedAtMs / 1000),
  };
  const order = orderDeployments(model, Math.random);
  if (gw.tracer.enabled) {
    gw.tracer
      .start('route', 'internal', state.span)
      .set('entente.route.order', order.map((d) => d.key).join(','))
      .set('entente.route.primary_cloud', gw.config.routing.primaryCloud)
      .set(
        'entente.route.excluded',
        model.excluded.map((x) => `${x.deployment.key}: ${x.reason}`).join('; ') || null,
      )
      .set('entente.licence', decision ? 'allowed' : 'not gated')
      .end();
  }
  for (const d of order) {
    if (state.attempts >= maxAttempts) break;
    if (!priced(d)) continue;
    const up = gw.upstreams.get(d.upstreamId)!;
    const availability = gw.health.acquire(d.key, Date.now());
    if (!availability.available) {
      earliestBackMs = Math.min(earliestBackMs, availability.untilMs);
      continue;
    }
    // Built only for a deployment that will be tried (signing one costs). A provider that cannot
    // honour a parameter is skipped, and its probe slot given back: the next deployment may.
    const native = up.adapter.buildChatRequest(chat, up.target(d.deployment));
    if (isUnsupported(native)) {
      gw.health.release(d.key);
      refused ??= native;
      continue;
    }
    state.attempts++;
    if (gw.tracer.enabled) state.attemptSpan = attemptSpanFor(gw, state, d, up.adapter.id, up.origin);
    const outcome = stream
      ? await attemptStream(gw, res, state, chat, d, native, ctx, encoderFor())
      : await attemptJson(gw, res, state, chat, d, native, ctx, encoderFor());
    // A served attempt's span was ended by record(), before the request's own span.
    if (state.attemptSpan) {
      endAttemptSpan(state.attemptSpan, state, outcome);
      state.attemptSpan = null;
    }
    switch (outcome.kind) {
      case 'served':
        gw.health.success(d.key);
        return;
      case 'client_gone':
        gw.health.release(d.key);
        return record(gw, state, chat, 499, 'client_closed', false);
      case 'client_error': {
        gw.health.release(d.key);
        const f = outcome.failure;
        state.deployment = d;
        // The upstream's own code (e.g. Azure's content_filter) is kept: clients switch on it.
        return fail(
          gw,
          res,
          state,
          chat,
          { code: 'upstream_client_error', message: f.message, param: f.param, status: f.status },
          f.upstreamCode,
        );
      }
      case 'failed': {
        const f = outcome.failure;
        const retryAfter = typeof f === 'object' ? f.retryAfterMs : null;
        const capped = retryAfter === null ? null : Math.min(retryAfter, gw.config.routing.maxRetryAfterMs);
        gw.health.failure(d.key, Date.now(), capped, typeof f === 'object' ? f.kind : f);
        gw.events.onFailover?.(d, typeof f === 'object' ? f.kind : f);
        gw.metrics.failovers.inc({ cloud: d.cloud, reason: typeof f === 'object' ? f.kind : f });
        tried.push({ deployment: d, failure: f });
        if (capped !== null) earliestBackMs = Math.min(earliestBackMs, Date.now() + capped);
        if (res.destroyed) return record(gw, state, chat, 499, 'client_closed', false);
      }
    }
  }
  if (refused && tried.length === 0 && !Number.isFinite(earliestBackMs)) {
    return fail(
      gw,
      res,
      state,
      chat,
      gatewayError('unsupported_parameter', refused.message, { param: refused.param }),
    );
  }
  return fail(gw, res, state, chat, exhausted(tried, earliestBackMs, model.excluded));
}

/** The request's server span, a child of the caller's `traceparent` (a no-op when tracing is off). */
export function startRequestSpan(
  gw: GatewayContext,
  state: RequestState,
  req: IncomingMessage,
  path: string,
  operation: 'chat' | 'embeddings',
): void {
  if (!gw.tracer.enabled) return;
  state.span = gw.tracer
    .start(`POST ${path}`, 'server', parseTraceparent(req.headers.traceparent))
    .set('http.request.method', 'POST')
    .set('url.path', path)
    .set('gen_ai.operation.name', operation)
    .set('entente.request_id', state.requestId)
    .set('entente.tenant', state.caller.tenantId);
}

export const NO_BODY: unique symbol = Symbol('no body');

/** Reads and parses the JSON body; on failure the client has its error and NO_BODY comes back. */
export async function readJsonBody(
  gw: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  state: RequestState,
): Promise<unknown> {
  const raw = await readBody(req, gw.config.server.bodyLimitBytes);
  if (!Buffer.isBuffer(raw)) {
    fail(gw, res, state, null, raw as GatewayError);
    return NO_BODY;
  }
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch (err) {
    fail(
      gw,
      res,
      state,
      null,
      gatewayError('invalid_json', `The request body is not valid JSON (${(err as Error).message}).`),
    );
    return NO_BODY;
  }
}

/**
 * The catalog model the request names, if this key may call it and the agreement's licence
 * allows it now; otherwise the client has its coded error and null comes back.
 */
export function admitModel(gw: GatewayContext, res: ServerResponse, state: RequestState, asked: Recorded) {
  const model = gw.routes.table.models.get(asked.model);
  if (!model) {
    fail(
      gw,
      res,
      state,
      asked,
      gatewayError(
        'model_not_found',
        `The model '${asked.model}' does not exist in this gateway's catalog.`,
        {
          param: 'model',
        },
      ),
    );
    return null;
  }
  if (!mayCall(state.caller, model.name)) {
    fail(
      gw,
      res,
      state,
      asked,
      gatewayError('model_not_allowed', `This API key may not call the model '${model.name}'.`, {
        param: 'model',
      }),
    );
    return null;
  }
  // The agreement: a licensee's key reaches only licensed models within the term, decided by
  // the version in force now (precomputed in the route table).
  const decision = gw.routes.table.licence(gw.licenseeOf.get(state.caller.tenantId) ?? null, model.name);
  if (decision && !decision.allowed) {
    fail(gw, res, state, asked, gatewayError(decision.reason, decision.message, { param: 'model' }));
    return null;
  }
  return { model, decision };
}

/** gen_ai.system values of the OpenTelemetry GenAI semantic conventions. */
const GEN_AI_SYSTEM: Record<string, string> = {
  'azure-openai': 'az.ai.openai',
  openai: 'openai',
  bedrock: 'aws.bedrock',
  'anthropic-bedrock': 'aws.bedrock',
  vertex: 'gcp.vertex_ai',
  'anthropic-vertex': 'gcp.vertex_ai',
  gemini: 'gcp.gemini',
  anthropic: 'anthropic',
};

export function attemptSpanFor(
  gw: GatewayContext,
  state: RequestState,
  d: CatalogDeployment,
  provider: string,
  origin: string,
): Span {
  const u = new URL(origin);
  return gw.tracer
    .start(`chat ${d.deployment}`, 'client', state.span)
    .set('gen_ai.operation.name', 'chat')
    .set('gen_ai.system', GEN_AI_SYSTEM[provider] ?? provider)
    .set('gen_ai.request.model', d.deployment)
    .set('server.address', u.hostname)
    .set('server.port', Number(u.port || (u.protocol === 'https:' ? 443 : 80)))
    .set('entente.cloud', d.cloud)
    .set('entente.region', d.region)
    .set('entente.deployment', d.key)
    .set('entente.attempt', state.attempts);
}

export function endAttemptSpan(span: Span, state: RequestState, outcome: AttemptOutcome): void {
  if (outcome.kind === 'served') {
    const u = state.usage;
    if (u) {
      span.set('gen_ai.usage.input_tokens', u.tokensInputUncached + u.tokensInputCached);
      span.set('gen_ai.usage.output_tokens', u.tokensOutput + u.tokensReasoning);
    }
  } else if (outcome.kind === 'failed' || outcome.kind === 'client_error') {
    const f = outcome.failure;
    span.set('error.type', typeof f === 'object' ? f.kind : f);
    if (typeof f === 'object') span.set('http.response.status_code', f.status);
    span.fail(typeof f === 'object' ? f.message : `upstream ${f}`);
  } else {
    span.set('error.type', 'client_closed').fail('the client went away');
  }
  span.end();
}

export function exhausted(
  tried: readonly Attempted[],
  earliestBackMs: number,
  excluded: readonly Exclusion[],
): GatewayError {
  const err = exhaustedBy(tried, earliestBackMs);
  // Say which deployments the agreement kept out, so a failed primary explains itself.
  if (excluded.length === 0) return err;
  return {
    ...err,
    message: `${err.message} Not eligible under the agreement: ${excluded.map((x) => `${x.deployment.key}: ${x.reason}`).join('; ')}.`,
  };
}

function exhaustedBy(tried: readonly Attempted[], earliestBackMs: number): GatewayError {
  const retryAfterS = Number.isFinite(earliestBackMs)
    ? Math.max(1, Math.ceil((earliestBackMs - Date.now()) / 1000))
    : undefined;
  const extra = retryAfterS !== undefined ? { retryAfterS } : {};
  if (tried.length === 0) {
    return gatewayError(
      'all_deployments_cooling_down',
      'Every deployment of this model failed recently and is cooling down. Retry after the retry-after header.',
      extra,
    );
  }
  const describe = tried
    .map(
      (t) =>
        `${t.deployment.key} (${t.deployment.cloud}): ${typeof t.failure === 'object' ? `HTTP ${t.failure.status} ${t.failure.message}` : t.failure}`,
    )
    .join('; ');
  if (tried.every((t) => typeof t.failure === 'object' && t.failure.kind === 'rate_limited')) {
    return gatewayError(
      'upstream_rate_limited',
      `Every deployment tried is rate limited: ${describe}`,
      extra,
    );
  }
  if (tried.every((t) => t.failure === 'timeout')) {
    return gatewayError('upstream_timeout', `Every deployment tried timed out: ${describe}`, extra);
  }
  return gatewayError('upstream_error', `Every deployment tried failed: ${describe}`, extra);
}

export function servedHeaders(
  state: RequestState,
  d: CatalogDeployment,
  now: number,
  native: NativeRequest,
): Record<string, string> {
  const h: Record<string, string> = {
    'x-request-id': state.requestId,
    'x-entente-cloud': d.cloud,
    'x-entente-region': d.region,
    'x-entente-deployment': d.key,
    'x-entente-model-version': d.modelVersion,
    'x-entente-attempts': String(state.attempts),
    'x-entente-overhead-ms': (state.overheadUs(now) / 1000).toFixed(3),
  };
  // Header values must be latin-1 without newlines; warnings are ASCII by construction.
  if (native.warnings && native.warnings.length > 0) h['x-entente-warnings'] = native.warnings.join('; ');
  return h;
}

export interface UpstreamResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: AsyncIterable<Buffer> & { destroy(err?: Error): unknown };
}

/** Sends the native request; transport failures come back as values. */
export async function send(
  gw: GatewayContext,
  d: CatalogDeployment,
  native: NativeRequest,
  signal: AbortSignal | undefined,
): Promise<UpstreamResponse | 'timeout' | 'connect'> {
  const up = gw.upstreams.get(d.upstreamId)!;
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
    const code = (err as { code?: string }).code;
    return code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' ? 'timeout' : 'connect';
  }
}

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

export async function upstreamFailure(
  gw: GatewayContext,
  d: CatalogDeployment,
  r: UpstreamResponse,
): Promise<AttemptOutcome> {
  let body: Buffer;
  try {
    body = (await readAll(r.body, MAX_ERROR_BODY_BYTES)) ?? Buffer.alloc(0);
  } catch {
    body = Buffer.alloc(0);
  }
  const failure = gw.upstreams.get(d.upstreamId)!.adapter.parseError(r.statusCode, r.headers, body);
  return failure.kind === 'client' ? { kind: 'client_error', failure } : { kind: 'failed', failure };
}

async function attemptJson(
  gw: GatewayContext,
  res: ServerResponse,
  state: RequestState,
  chat: ChatRequest,
  d: CatalogDeployment,
  native: NativeRequest,
  ctx: ResponseContext,
  enc: ClientEncoder,
): Promise<AttemptOutcome> {
  // No AbortController here: undici's own timeouts bound the wait, and when the client leaves,
  // the answer is still read to its end so that the usage the upstream bills is recorded.
  const tUp = performance.now();
  const r = await send(gw, d, native, undefined);
  if (typeof r === 'string') {
    state.upstreamWaitMs += performance.now() - tUp;
    return res.destroyed ? { kind: 'client_gone' } : { kind: 'failed', failure: r };
  }
  if (r.statusCode !== 200) {
    const outcome = await upstreamFailure(gw, d, r);
    state.upstreamWaitMs += performance.now() - tUp;
    return outcome;
  }
  let body: Buffer | null;
  try {
    body = await readAll(r.body, MAX_RESPONSE_BYTES);
  } catch {
    state.upstreamWaitMs += performance.now() - tUp;
    return res.destroyed ? { kind: 'client_gone' } : { kind: 'failed', failure: 'connect' };
  }
  state.upstreamWaitMs += performance.now() - tUp;
  const up = gw.upstreams.get(d.upstreamId)!;
  const result = body ? up.adapter.parseChatResponse(body, ctx) : null;
  if (!result || isFailure(result)) {
    const failure: UpstreamFailure = result ?? badResponse('the upstream response is too large');
    return { kind: 'failed', failure };
  }
  state.deployment = d;
  state.usage = result.usage;
  if (res.destroyed) {
    // The client left; the upstream still billed this answer, so its usage is recorded.
    record(gw, state, chat, 499, 'client_closed', result.usage !== null);
    return { kind: 'served' };
  }
  sendJsonBytes(res, 200, enc.json(result.body), servedHeaders(state, d, performance.now(), native));
  record(gw, state, chat, 200, null, result.usage !== null);
  return { kind: 'served' };
}

async function attemptStream(
  gw: GatewayContext,
  res: ServerResponse,
  state: RequestState,
  chat: ChatRequest,
  d: CatalogDeployment,
  native: NativeRequest,
  ctx: ResponseContext,
  enc: ClientEncoder,
): Promise<AttemptOutcome> {
  const up = gw.upstreams.get(d.upstreamId)!;
  const ac = new AbortController();
  let why: 'client' | 'duration' | null = null;
  const onClose = () => {
    if (!res.writableFinished) {
      why ??= 'client';
      ac.abort();
    }
  };
  res.once('close', onClose);
  const maxMs = gw.config.server.streamMaxDurationMs;
  const timer = setTimeout(() => {
    why ??= 'duration';
    ac.abort();
  }, maxMs);
  const tUp = performance.now();
  let started = false;
  let frames = 0;
  let finishReason: string | undefined;
  let doneSeen = false;
  // Role-only opening frames, held until the first content so that failover stays possible.
  let held = '';
  /** Ends a successful stream: the last frames, [DONE], and its usage record. */
  const endOk = (last: string) => {
    res.end(last + enc.end());
    record(gw, state, chat, 200, null, state.usage !== null);
  };
  try {
    const r = await send(gw, d, native, ac.signal);
    if (typeof r === 'string') {
      state.upstreamWaitMs += performance.now() - tUp;
      if (why === 'client') return { kind: 'client_gone' };
      return { kind: 'failed', failure: why === 'duration' ? 'timeout' : r };
    }
    if (r.statusCode !== 200) {
      const outcome = await upstreamFailure(gw, d, r);
      state.upstreamWaitMs += performance.now() - tUp;
      return outcome;
    }
    const parser = up.adapter.streamFraming === 'sse' ? new SseParser() : new EventStreamEventParser();
    const mapper = up.adapter.createStreamMapper({
      ...ctx,
      clientWantsUsage: enc.forceUsage || chat.stream_options?.include_usage === true,
    });
    let streamError: UpstreamFailure | null = null;
    try {
      for await (const chunk of r.body) {
        // After [DONE] the body is read to its end rather than destroyed, so the upstream
        // connection goes back to the keep-alive pool instead of being torn down.
        if (doneSeen) continue;
        let out = '';
        for (const ev of parser.push(chunk)) {
          const step = mapper.map(ev);
          if (step.usage) state.usage = step.usage;
          if (step.finishReason) finishReason = step.finishReason;
          if (step.frames.length > 0) {
            if (step.preamble && !started) held += enc.frames(step.frames);
            else out += enc.frames(step.frames);
          }
          frames += step.frames.length;
          if (step.error) {
            streamError = step.error;
            break;
          }
          if (step.done) {
            doneSeen = true;
            break;
          }
        }
        if (out) {
          if (!started) {
            started = true;
            out = held + out;
            held = '';
            state.upstreamWaitMs += performance.now() - tUp;
            state.deployment = d;
            state.firstByteOverheadUs = state.overheadUs(performance.now());
            res.writeHead(200, {
              'content-type': 'text/event-stream; charset=utf-8',
              'cache-control': 'no-cache',
              ...servedHeaders(state, d, performance.now(), native),
            });
          }
          if (doneSeen) {
            // The client's answer is complete now, whatever the upstream does next.
            endOk(out);
            continue;
          }
          if (!res.write(out)) await waitDrain(res);
        } else if (doneSeen && started) {
          endOk('');
          continue;
        }
        if (streamError) break;
      }
    } catch {
      // The upstream connection broke, timed out between chunks, or we aborted it.
      if (doneSeen && res.writableEnded) return { kind: 'served' };
      if (why === 'client') {
        if (!started) state.upstreamWaitMs += performance.now() - tUp;
        return { kind: 'client_gone' };
      }
      if (!started) {
        state.upstreamWaitMs += performance.now() - tUp;
        return { kind: 'failed', failure: why === 'duration' ? 'timeout' : 'connect' };
      }
      streamError = {
        kind: 'server',
        status: 502,
        message:
          why === 'duration'
            ? `The stream ran longer than ${maxMs} ms (server.streamMaxDurationMs).`
            : 'The upstream connection broke in the middle of the stream.',
        upstreamCode: why === 'duration' ? 'stream_duration_exceeded' : null,
        param: null,
        retryAfterMs: null,
      };
    }
    if (doneSeen && res.writableEnded) return { kind: 'served' };
    if (streamError) r.body.destroy();
    // A stream that ends without [DONE] is complete if it carried a finish reason (some
    // OpenAI-compatible servers omit [DONE]); otherwise it was cut.
    const complete = !streamError && (doneSeen || finishReason !== undefined);
    if (!started) {
      state.upstreamWaitMs += performance.now() - tUp;
      if (!complete)
        return {
          kind: 'failed',
          failure: streamError ?? badResponse('the upstream stream ended before any event'),
        };
      // A complete stream with nothing to show: still a valid (empty) answer.
      state.deployment = d;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        ...servedHeaders(state, d, performance.now(), native),
      });
      if (held) res.write(held);
    }
    if (complete) {
      endOk('');
      return { kind: 'served' };
    }
    const code =
      streamError?.upstreamCode === 'stream_duration_exceeded'
        ? 'stream_duration_exceeded'
        : 'upstream_stream_error';
    res.end(enc.error(code, streamError?.message));
    if (!state.usage) state.usage = { ...zeroUsage, tokensOutput: Math.max(0, frames - 1) };
    record(gw, state, chat, 200, code, false);
    // The breaker hears of it, but there is no failover once the client has bytes.
    gw.health.failure(d.key, Date.now(), null, 'stream_broken');
    return { kind: 'served' };
  } finally {
    clearTimeout(timer);
    res.off('close', onClose);
  }
}

function waitDrain(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}

/** Ends the request with an error and writes its usage record. */
export function fail(
  gw: GatewayContext,
  res: ServerResponse,
  state: RequestState,
  chat: Recorded | null,
  err: GatewayError,
  upstreamCode?: string | null,
): void {
  sendError(res, err, state.requestId, upstreamCode ?? undefined);
  record(gw, state, chat, res.statusCode, err.code, false);
}

export function record(
  gw: GatewayContext,
  state: RequestState,
  chat: Recorded | null,
  status: number,
  errorCode: string | null,
  exact: boolean,
): void {
  const d = state.deployment;
  const u = state.usage ?? zeroUsage;
  const now = performance.now();
  gw.usageLog.append({
    requestId: state.requestId,
    tenantId: state.caller.tenantId,
    keyId: state.caller.keyId,
    model: chat?.model ?? '',
    modelVersion: d?.modelVersion ?? null,
    cloud: d?.cloud ?? null,
    region: d?.region ?? null,
    upstreamId: d?.upstreamId ?? null,
    deployment: d?.deployment ?? null,
    stream: chat?.stream === true,
    status,
    errorCode,
    usageExact: exact,
    attempts: state.attempts,
    tokensInputUncached: u.tokensInputUncached,
    tokensInputCached: u.tokensInputCached,
    tokensOutput: u.tokensOutput,
    tokensReasoning: u.tokensReasoning,
    startedAtMs: state.startedAtMs,
    latencyMs: now - state.t0,
    overheadUs: state.overheadUs(now),
  });
  if (gw.config.observability.metrics)
    recordMetrics(gw, chat, d?.cloud ?? '', u, status, errorCode, now, state);
  gw.events.onRequestDone?.(status, errorCode);
  if (state.span !== NOOP) {
    if (state.attemptSpan) {
      endAttemptSpan(state.attemptSpan, state, status === 499 ? { kind: 'client_gone' } : { kind: 'served' });
      state.attemptSpan = null;
    }
    state.span
      .set('http.response.status_code', status)
      .set('entente.attempts', state.attempts)
      .set('entente.cloud', d?.cloud)
      .set('error.type', errorCode);
    if (status >= 400 || errorCode) state.span.fail(errorCode ?? `HTTP ${status}`);
    state.span.end();
  }
  if (gw.config.observability.accessLog) {
    // Ids, route and counts only: no API key, and no prompt unless logPrompts is on.
    // Serialised by hand: the generic path (an object, a spread, JSON.stringify) cost several
    // times more per request, and this line is written for every request. Tenant, key and cloud
    // ids are config ids ([a-z0-9._-]), safe unquoted; free-form strings go through JSON.stringify.
    const q = JSON.stringify;
    gw.logger.infoFields(
      'request',
      `"requestId":"${state.requestId}","tenant":"${state.caller.tenantId}","keyId":"${state.caller.keyId}","model":${chat ? q(chat.model) : 'null'},"stream":${chat?.stream === true},"status":${status},"errorCode":${errorCode ? q(errorCode) : 'null'},"cloud":${d ? `"${d.cloud}"` : 'null'},"deployment":${d ? q(d.key) : 'null'},"attempts":${state.attempts},"tokensIn":${u.tokensInputUncached + u.tokensInputCached},"tokensOut":${u.tokensOutput + u.tokensReasoning},"latencyMs":${Math.round((now - state.t0) * 100) / 100},"overheadMs":${state.overheadUs(now) / 1000}${state.span.traceId ? `,"traceId":"${state.span.traceId}"` : ''}${state.prompt !== null ? `,"messages":${q(state.prompt)}` : ''}`,
    );
  }
}

const NOOP = noopTracer.start('', 'internal');

function recordMetrics(
  gw: GatewayContext,
  chat: Recorded | null,
  cloud: string,
  u: TokenUsage,
  status: number,
  errorCode: string | null,
  now: number,
  state: RequestState,
): void {
  const m = gw.metrics;
  // Only catalog names become label values: a client cannot grow the series without bound.
  // Keys are built directly (label-name order), without a labels object per call.
  const model = chat && gw.catalog.has(chat.model) ? chat.model : '(unknown)';
  const stream = chat?.stream === true ? 'true' : 'false';
  m.requests.incKey(`${model}\u0000${cloud}\u0000${status}\u0000${errorCode ?? ''}\u0000${stream}`);
  const mc = `${model}\u0000${cloud}\u0000`;
  if (u.tokensInputUncached) m.tokens.incKey(`${mc}input_uncached`, u.tokensInputUncached);
  if (u.tokensInputCached) m.tokens.incKey(`${mc}input_cached`, u.tokensInputCached);
  if (u.tokensOutput) m.tokens.incKey(`${mc}output`, u.tokensOutput);
  if (u.tokensReasoning) m.tokens.incKey(`${mc}reasoning`, u.tokensReasoning);
  m.duration.observeKey(`${model}\u0000${cloud}`, (now - state.t0) / 1000);
  m.overhead.observeKey(stream, state.overheadUs(now) / 1e6);
}
