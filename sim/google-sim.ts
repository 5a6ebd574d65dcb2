// A simulator of Google's generative APIs (https://ai.google.dev/api and the Vertex AI inference reference), faithful
// enough for @google/genai in Vertex and Gemini modes and for @anthropic-ai/sdk's AnthropicVertex:
//   Gemini:  POST /{v1|v1beta|v1alpha}/models/{m}:generateContent | :streamGenerateContent?alt=sse
//   Vertex:  POST /{v1|v1beta1}/projects/{p}/locations/{l}/publishers/google/models/{m}:…
//            and the prefix-less /{ver}/publishers/google/models/{m}:… (express mode)
//   Claude:  POST /v1/projects/{p}/locations/{l}/publishers/anthropic/models/{m}:rawPredict | :streamRawPredict
// SSE chunks carry text deltas and a running-total usageMetadata, no terminator; errors are
// {"error":{code,message,status,details}}, inside a stream as a data: chunk.
import { createVerify, randomUUID } from 'node:crypto';
import {
  anthropicError,
  anthropicEvents,
  anthropicFault,
  anthropicMessage,
  anthropicUsage,
  checkMessagesBody,
  writeAnthropicStream,
} from './anthropic-sim.js';
import {
  answerFault,
  type CloudSimStartOptions,
  type CloudSimulator,
  cutResponse,
  pace,
  type RequestContext,
  sendJson,
  sleep,
  startCloudSim,
  write,
  writeHead,
} from './cloud-sim.js';
import { fromAnthropic, fromGemini } from './native-requests.js';
import { ProvisionedBuckets } from './provisioned.js';
import {
  countWords,
  type ScriptedReply,
  SIM_EMBEDDING_DIMS,
  scriptReply,
  simEmbedding,
} from './script-reply.js';
import type { Fault, SimSettings } from './sim-types.js';

type Obj = Record<string, unknown>;

const STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

export function googleError(code: number, message: string, details: Obj[] = []): Obj {
  return {
    error: { code, message, status: STATUS[code] ?? 'UNKNOWN', ...(details.length ? { details } : {}) },
  };
}

function usageMetadata(r: ScriptedReply, completionSoFar: number, final: boolean): Obj {
  const thoughts = final ? r.reasoningTokens : 0;
  const candidates = Math.min(completionSoFar, r.completionTokens - r.reasoningTokens);
  return {
    promptTokenCount: r.promptTokens,
    candidatesTokenCount: candidates,
    totalTokenCount: r.promptTokens + candidates + thoughts,
    ...(thoughts ? { thoughtsTokenCount: thoughts } : {}),
    ...(r.cachedTokens ? { cachedContentTokenCount: r.cachedTokens } : {}),
    promptTokensDetails: [{ modality: 'TEXT', tokenCount: r.promptTokens }],
  };
}

const finishReason = (f: string) => (f === 'length' ? 'MAX_TOKENS' : 'STOP'); // a function call ends with STOP

function candidateParts(r: ScriptedReply): Obj[] {
  const c = r.choices[0]!;
  if (c.toolCall)
    return [
      {
        functionCall: { name: c.toolCall.name, args: JSON.parse(c.toolCall.arguments) },
        thoughtSignature: 'c2ltLXNpZw==',
      },
    ];
  return [{ text: c.words.join(' ') }];
}

function googleFault(ctx: RequestContext, f: Fault | null): boolean {
  return answerFault(ctx, f, {
    rateLimited: (s) =>
      sendJson(
        ctx.res,
        429,
        googleError(429, 'Resource has been exhausted (e.g. check quota).', [
          { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${s}s` },
        ]),
      ),
    serverError: () => sendJson(ctx.res, 500, googleError(500, 'An internal error has occurred.')),
    unavailable: () =>
      sendJson(ctx.res, 503, googleError(503, 'The model is overloaded. Please try again later.')),
  });
}

/** Access tokens issued by POST /token → when they expire (ms). */
const issued = new Map<string, number>();
let tokenSeq = 0;

/**
 * Google's OAuth token endpoint for service accounts (RFC 7523 JWT bearer grant): checks the
 * assertion's RS256 signature with the configured public key, its audience and its lifetime.
 */
async function issueToken(ctx: RequestContext): Promise<void> {
  const form = new URLSearchParams(ctx.raw.toString('utf8'));
  const deny = (why: string) => sendJson(ctx.res, 400, { error: 'invalid_grant', error_description: why });
  if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
    return deny('unsupported grant_type');
  const parts = (form.get('assertion') ?? '').split('.');
  if (parts.length !== 3) return deny('the assertion is not a JWT');
  const pem = ctx.settings.serviceAccountPublicKey;
  if (!pem) return deny('this simulator has no service-account public key configured');
  const ok = createVerify('RSA-SHA256')
    .update(`${parts[0]}.${parts[1]}`)
    .verify(pem, Buffer.from(parts[2]!, 'base64url'));
  if (!ok) return deny('Invalid JWT Signature.');
  const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as {
    aud?: string;
    exp?: number;
    iat?: number;
    scope?: string;
  };
  const now = Math.floor(ctx.clock.now() / 1000);
  if (!claims.scope?.includes('cloud-platform')) return deny('missing scope');
  if (!claims.iat || !claims.exp || claims.exp <= now || claims.iat > now + 60)
    return deny('Invalid JWT: token must be a short-lived token');
  const lifetimeS = ctx.settings.tokenLifetimeS ?? 3600;
  const token = `ya29.sim-${++tokenSeq}`;
  issued.set(token, ctx.clock.now() + lifetimeS * 1000);
  ctx.record({ grant_type: form.get('grant_type'), claims }, null);
  sendJson(ctx.res, 200, { access_token: token, expires_in: lifetimeS, token_type: 'Bearer' });
}

/** Provisioned Throughput per model, shared by every request this simulator serves. */
const gsu = new WeakMap<SimSettings, ProvisionedBuckets>();

/**
 * Vertex AI Provisioned Throughput: a model with reserved capacity (settings.provisioned) serves
 * from it while it has room; then a request with no `X-Vertex-AI-LLM-Request-Type` spills to
 * on-demand, one that says `dedicated` is refused (429), and one that says `shared` never uses it.
 * `usageMetadata.trafficType` says which served.
 */
function trafficType(
  ctx: RequestContext,
  model: string,
): { type: 'PROVISIONED_THROUGHPUT' | 'ON_DEMAND' | 'full' | null; count?: (tokens: number) => void } {
  const capacity = ctx.settings.provisioned?.[model];
  const asked = String(ctx.req.headers['x-vertex-ai-llm-request-type'] ?? '').toLowerCase();
  if (capacity === undefined || asked === 'shared') return { type: 'ON_DEMAND' };
  const buckets = gsu.get(ctx.settings) ?? new ProvisionedBuckets();
  gsu.set(ctx.settings, buckets);
  const a = buckets.admit(model, capacity);
  if (a.admitted) return { type: 'PROVISIONED_THROUGHPUT', count: a.count };
  return { type: asked === 'dedicated' ? 'full' : 'ON_DEMAND' };
}

export function startGoogleSimulator(opts: CloudSimStartOptions = {}): Promise<CloudSimulator> {
  const cloud = opts.cloud ?? 'gcp';
  return startCloudSim({
    kind: 'google',
    ...opts,
    async handle(ctx) {
      const { req, res, url } = ctx;
      if (url.pathname === '/token' && req.method === 'POST') return issueToken(ctx);
      const m =
        /^\/(v1|v1beta|v1beta1|v1alpha)\/(?:projects\/([^/]+)\/locations\/([^/]+)\/)?(?:publishers\/(google|anthropic)\/)?models\/([^/:]+):([A-Za-z]+)$/.exec(
          url.pathname,
        );
      if (!m || req.method !== 'POST')
        return sendJson(
          res,
          404,
          googleError(404, `The requested URL ${url.pathname} was not found on this server.`),
        );
      const [, , project, , publisher, rawModel, method] = m;
      const model = decodeURIComponent(rawModel!);
      const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
      const key =
        (req.headers['x-goog-api-key'] as string | undefined) ?? url.searchParams.get('key') ?? bearer;
      const issuedOk = bearer !== undefined && (issued.get(bearer) ?? 0) > ctx.clock.now();
      if (
        ctx.settings.serviceAccountPublicKey
          ? !issuedOk
          : !key || (ctx.settings.apiKey && key !== ctx.settings.apiKey)
      )
        return sendJson(res, 401, googleError(401, 'Request had invalid authentication credentials.'));
      if (project && !bearer && !req.headers['x-goog-api-key'])
        return sendJson(res, 401, googleError(401, 'Vertex AI needs an OAuth bearer token.'));
      let body: Obj;
      try {
        body = JSON.parse(ctx.raw.toString('utf8')) as Obj;
      } catch {
        return sendJson(res, 400, googleError(400, 'Invalid JSON payload received.'));
      }
      const rec = ctx.record(body, model);

      if (publisher === 'anthropic') {
        // Claude on Vertex: Anthropic's body with anthropic_version, no model (providers.md 6.6).
        if (method !== 'rawPredict' && method !== 'streamRawPredict')
          return sendJson(res, 404, googleError(404, `Method ${method} is not available for Claude.`));
        if (typeof body.anthropic_version !== 'string')
          return sendJson(
            res,
            400,
            anthropicError('invalid_request_error', 'anthropic_version: Field required'),
          );
        const bad = checkMessagesBody(body, body.anthropic_version);
        if (bad) return sendJson(res, bad[0], bad[1]);
        const f = ctx.takeFault();
        if (anthropicFault(ctx, f)) return;
        if (ctx.settings.latencyMs > 0) await sleep(ctx.settings.latencyMs);
        const reply = scriptReply(fromAnthropic(body), `${cloud}/${model}`, ctx.settings.reply);
        rec.usage = anthropicUsage(reply);
        if (method === 'streamRawPredict') return writeAnthropicStream(ctx, anthropicEvents(reply, model), f);
        return sendJson(res, 200, anthropicMessage(reply, model));
      }

      if (method === 'predict') {
        // Vertex text embeddings: instances of {content}, predictions of {embeddings:{values,statistics}}.
        const instances = Array.isArray(body.instances) ? (body.instances as Obj[]) : [];
        if (instances.length === 0 || !instances.every((i) => typeof i.content === 'string'))
          return sendJson(res, 400, googleError(400, 'instances must hold {content} strings.'));
        const f = ctx.takeFault();
        if (googleFault(ctx, f)) return;
        const dims = Number((body.parameters as Obj | undefined)?.outputDimensionality ?? SIM_EMBEDDING_DIMS);
        const predictions = instances.map((i) => ({
          embeddings: {
            values: simEmbedding(i.content as string, dims),
            statistics: { token_count: countWords(i.content as string), truncated: false },
          },
        }));
        rec.usage = { token_count: predictions.reduce((n, p) => n + p.embeddings.statistics.token_count, 0) };
        return sendJson(res, 200, { predictions, metadata: { billableCharacterCount: 0 } });
      }
      if (method !== 'generateContent' && method !== 'streamGenerateContent')
        return sendJson(res, 404, googleError(404, `Method ${method} not found.`));
      if (!Array.isArray(body.contents) || body.contents.length === 0)
        return sendJson(
          res,
          400,
          googleError(400, '* GenerateContentRequest.contents: contents is not specified'),
        );
      const f = ctx.takeFault();
      if (googleFault(ctx, f)) return;
      if (ctx.settings.latencyMs > 0) await sleep(ctx.settings.latencyMs);
      const reply = scriptReply(fromGemini(body), `${cloud}/${model}`, ctx.settings.reply);
      const traffic = project ? trafficType(ctx, model) : { type: null };
      if (traffic.type === 'full')
        return sendJson(
          res,
          429,
          googleError(
            429,
            `Provisioned throughput of ${model} is exhausted. Retry later, or send the request as shared.`,
          ),
        );
      traffic.count?.(reply.promptTokens - reply.cachedTokens + reply.completionTokens);
      const final = {
        ...usageMetadata(reply, Number.MAX_SAFE_INTEGER, true),
        ...(traffic.type ? { trafficType: traffic.type } : {}),
      };
      rec.usage = final;
      const responseId = randomUUID().replace(/-/g, '').slice(0, 22);
      const base = {
        modelVersion: model,
        responseId,
        ...(project ? { createTime: new Date(ctx.clock.now()).toISOString() } : {}),
      };
      const c = reply.choices[0]!;
      if (method === 'generateContent') {
        return sendJson(res, 200, {
          candidates: [
            {
              content: { role: 'model', parts: candidateParts(reply) },
              finishReason: finishReason(c.finishReason),
              index: 0,
            },
          ],
          usageMetadata: final,
          ...base,
        });
      }
      // streamGenerateContent: SSE only with alt=sse (the SDK always asks for it).
      if (url.searchParams.get('alt') !== 'sse')
        return sendJson(res, 400, googleError(400, 'This simulator streams with alt=sse only.'));
      writeHead(res, 200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const send = (o: Obj) => write(res, `data: ${JSON.stringify(o)}\r\n\r\n`);
      const after =
        f?.kind === 'cut' || f?.kind === 'stream_error' ? (f.afterChunks ?? 2) : Number.POSITIVE_INFINITY;
      if (c.toolCall) {
        send({
          candidates: [
            { content: { role: 'model', parts: candidateParts(reply) }, finishReason: 'STOP', index: 0 },
          ],
          usageMetadata: final,
          ...base,
        });
        return void res.end();
      }
      if (ctx.settings.leadingUsageChunk)
        send({
          candidates: [{ content: { role: 'model', parts: [{ text: '' }] }, index: 0 }],
          usageMetadata: usageMetadata(reply, 0, false),
          ...base,
        });
      for (let i = 0; i < c.words.length; i++) {
        if (i >= after) {
          if (f?.kind === 'cut') return cutResponse(res);
          send(googleError(503, 'The model is overloaded. Please try again later.'));
          return void res.end();
        }
        if (!(await pace(ctx.settings, res))) return;
        const last = i === c.words.length - 1;
        send({
          candidates: [
            {
              content: { role: 'model', parts: [{ text: (i === 0 ? '' : ' ') + c.words[i] }] },
              ...(last ? { finishReason: finishReason(c.finishReason) } : {}),
              index: 0,
            },
          ],
          usageMetadata: last ? final : usageMetadata(reply, i + 1, false),
          ...base,
        });
      }
      if (c.words.length === 0)
        send({
          candidates: [
            {
              content: { role: 'model', parts: [{ text: '' }] },
              finishReason: finishReason(c.finishReason),
              index: 0,
            },
          ],
          usageMetadata: final,
          ...base,
        });
      res.end();
    },
  });
}
