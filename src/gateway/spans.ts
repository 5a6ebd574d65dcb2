// Trace spans of a request: the server span (child of the caller's traceparent), the route
// decision, and one client span per upstream attempt, named by the operation (chat, embeddings).
import type { IncomingMessage } from 'node:http';
import { parseTraceparent, type Span } from '../observability/index.js';
import type { CatalogDeployment, RouteEntry } from '../routing/index.js';
import type { GatewayContext } from './context.js';
import type { AttemptOutcome } from './outcome.js';
import type { RequestState } from './request-state.js';
import type { BoundDeployment } from './upstreams.js';

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

export function startRequestSpan(
  gw: GatewayContext,
  state: RequestState,
  req: IncomingMessage,
  path: string,
): void {
  if (!gw.tracer.enabled) return;
  state.span = gw.tracer
    .start(`POST ${path}`, 'server', parseTraceparent(req.headers.traceparent))
    .set('http.request.method', 'POST')
    .set('url.path', path)
    .set('gen_ai.operation.name', state.operation)
    .set('entente.request_id', state.requestId)
    .set('entente.tenant', state.caller.tenantId);
}

export function traceRoute(
  gw: GatewayContext,
  state: RequestState,
  model: RouteEntry,
  order: readonly CatalogDeployment[],
  licensed: boolean,
): void {
  if (!gw.tracer.enabled) return;
  gw.tracer
    .start('route', 'internal', state.span)
    .set('entente.route.order', order.map((d) => d.key).join(','))
    .set('entente.route.primary_cloud', gw.config.routing.primaryCloud)
    .set(
      'entente.route.excluded',
      model.excluded.map((x) => `${x.deployment.key}: ${x.reason}`).join('; ') || null,
    )
    .set('entente.licence', licensed ? 'allowed' : 'not gated')
    .end();
}

export function startAttemptSpan(gw: GatewayContext, state: RequestState, b: BoundDeployment): void {
  if (!gw.tracer.enabled) return;
  const d = b.deployment;
  const u = new URL(b.upstream.origin);
  state.attemptSpan = gw.tracer
    .start(`${state.operation} ${d.deployment}`, 'client', state.span)
    .set('gen_ai.operation.name', state.operation)
    .set('gen_ai.system', GEN_AI_SYSTEM[b.upstream.provider.id] ?? b.upstream.provider.id)
    .set('gen_ai.request.model', d.deployment)
    .set('server.address', u.hostname)
    .set('server.port', Number(u.port || (u.protocol === 'https:' ? 443 : 80)))
    .set('entente.cloud', d.cloud)
    .set('entente.region', d.region)
    .set('entente.deployment', d.key)
    .set('entente.attempt', state.attempts);
}

/** Ends the open attempt span, if any, with what the attempt came to. */
export function endAttemptSpan(state: RequestState, outcome: AttemptOutcome): void {
  const span: Span | null = state.attemptSpan;
  if (!span) return;
  state.attemptSpan = null;
  if (outcome.kind === 'served') {
    const u = state.usage;
    if (u) {
      span.set('gen_ai.usage.input_tokens', u.tokensInputUncached + u.tokensInputCached);
      span.set('gen_ai.usage.output_tokens', u.tokensOutput + u.tokensReasoning);
    }
  } else if (outcome.kind === 'failed' || outcome.kind === 'client_error') {
    const f = outcome.failure;
    span.set('error.type', f.kind);
    if (f.kind !== 'timeout' && f.kind !== 'connect') span.set('http.response.status_code', f.status);
    span.fail(f.message);
  } else {
    span.set('error.type', 'client_closed').fail('the client went away');
  }
  span.end();
}
