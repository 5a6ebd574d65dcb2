// A simulator of AWS Bedrock Runtime (https://docs.aws.amazon.com/bedrock/latest/APIReference/), faithful enough for
// @aws-sdk/client-bedrock-runtime with its default HTTP/2 handler and for @anthropic-ai/sdk's
// AnthropicBedrock: Converse, ConverseStream (binary event stream with both CRCs), InvokeModel and
// InvokeModelWithResponseStream for Claude, SigV4 or bearer auth, x-amzn-errortype errors and
// in-stream exception messages.
import { createHash, randomUUID } from 'node:crypto';
import { encodeEvent, encodeException } from '../src/eventstream/index.js';
import { anthropicEvents, anthropicMessage, anthropicUsage, checkMessagesBody } from './anthropic-sim.js';
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
import { fromAnthropic, fromConverse } from './native-requests.js';
import { ProvisionedBuckets } from './provisioned.js';
import {
  countWords,
  reasoningWords,
  type ScriptedReply,
  SIM_EMBEDDING_DIMS,
  scriptReply,
  simEmbedding,
} from './script-reply.js';
import type { Fault, SimSettings } from './sim-types.js';

type Obj = Record<string, unknown>;

function awsError(
  ctx: RequestContext,
  status: number,
  type: string,
  message: string,
  extra: Record<string, string> = {},
) {
  sendJson(
    ctx.res,
    status,
    { message },
    {
      'x-amzn-errortype': `${type}:http://internal.amazon.com/coral/com.amazonaws.bedrock/`,
      'x-amzn-requestid': randomUUID(),
      ...extra,
    },
  );
}

function awsFault(ctx: RequestContext, f: Fault | null): boolean {
  return answerFault(ctx, f, {
    rateLimited: (s) =>
      awsError(ctx, 429, 'ThrottlingException', 'Too many requests, please wait before trying again.', {
        'retry-after': String(s),
      }),
    serverError: () =>
      awsError(ctx, 500, 'InternalServerException', 'The server encountered an internal error.'),
    unavailable: () =>
      awsError(
        ctx,
        503,
        'ServiceUnavailableException',
        'The service is unavailable. Please try again later.',
      ),
  });
}

const stopReason = (f: string) =>
  f === 'tool_calls' ? 'tool_use' : f === 'length' ? 'max_tokens' : 'end_turn';

export function converseUsage(r: ScriptedReply) {
  return {
    inputTokens: r.promptTokens - r.cachedTokens,
    outputTokens: r.completionTokens,
    totalTokens: r.promptTokens + r.completionTokens,
    cacheReadInputTokens: r.cachedTokens,
    cacheWriteInputTokens: 0,
  };
}

const toolUseId = (id: string) => id.replace(/^call_/, 'tooluse_');

/**
 * DeepSeek-R1 on Bedrock always reasons first; Converse gives its reasoning as a reasoningContent
 * block and counts it inside outputTokens (https://docs.aws.amazon.com/bedrock/latest/userguide/conversation-inference-call.html).
 */
const R1_REASONING_TOKENS = 16;
function withReasoning(r: ScriptedReply, modelId: string): ScriptedReply {
  if (!/deepseek\.r1/.test(modelId)) return r;
  return {
    ...r,
    completionTokens: r.completionTokens + R1_REASONING_TOKENS,
    reasoningTokens: r.reasoningTokens + R1_REASONING_TOKENS,
  };
}

function converseEvents(r: ScriptedReply, tier: Obj): [string, Obj][] {
  const c = r.choices[0]!;
  const out: [string, Obj][] = [['messageStart', { role: 'assistant' }]];
  // The answer's block follows the reasoning block, when there is one.
  const at = r.reasoningTokens > 0 ? 1 : 0;
  if (at === 1) {
    reasoningWords(r).forEach((w, i) => {
      out.push([
        'contentBlockDelta',
        { contentBlockIndex: 0, delta: { reasoningContent: { text: (i === 0 ? '' : ' ') + w } } },
      ]);
    });
    out.push(['contentBlockStop', { contentBlockIndex: 0 }]);
  }
  if (c.toolCall) {
    out.push([
      'contentBlockStart',
      {
        contentBlockIndex: at,
        start: { toolUse: { toolUseId: toolUseId(c.toolCall.id), name: c.toolCall.name } },
      },
    ]);
    const a = c.toolCall.arguments;
    for (let p = 0; p < a.length; p += 8)
      out.push([
        'contentBlockDelta',
        { contentBlockIndex: at, delta: { toolUse: { input: a.slice(p, p + 8) } } },
      ]);
  } else {
    c.words.forEach((w, i) => {
      out.push([
        'contentBlockDelta',
        { contentBlockIndex: at, delta: { text: (i === 0 ? '' : ' ') + w }, p: 'abcdefgh'.slice(0, i % 8) },
      ]);
    });
  }
  out.push(['contentBlockStop', { contentBlockIndex: at }]);
  out.push(['messageStop', { stopReason: stopReason(c.finishReason) }]);
  out.push(['metadata', { usage: converseUsage(r), metrics: { latencyMs: 42 }, ...tier }]);
  return out;
}

/** Writes event messages; `delta` marks the ones the cut and stream_error faults count. */
async function writeEventStream(ctx: RequestContext, frames: [string, Obj, boolean][], f: Fault | null) {
  const { res } = ctx;
  writeHead(res, 200, {
    'content-type': 'application/vnd.amazon.eventstream',
    'x-amzn-requestid': randomUUID(),
  });
  const after =
    f?.kind === 'cut' || f?.kind === 'stream_error' ? (f.afterChunks ?? 2) : Number.POSITIVE_INFINITY;
  let n = 0;
  for (const [type, payload, delta] of frames) {
    if (delta) {
      if (n++ >= after) {
        if (f?.kind === 'cut') return cutResponse(res);
        res.end(
          encodeException('throttlingException', {
            message: 'Too many tokens, please wait before trying again.',
          }),
        );
        return;
      }
      if (!(await pace(ctx.settings, res))) return;
    }
    write(res, encodeEvent(type, payload));
  }
  res.end();
}

/** Reserved-tier capacity per model, shared by every request this simulator serves. */
const reserved = new WeakMap<SimSettings, ProvisionedBuckets>();

/**
 * Bedrock's service tiers: a request with `serviceTier: {type: 'reserved'}` on a model with
 * reserved capacity (settings.provisioned) is served from it while it has room, and overflows to
 * the standard tier by itself when it is full; the answer's `serviceTier` says which served.
 */
function serviceTier(
  body: Obj,
  modelId: string,
  settings: SimSettings,
): { echo: Obj; count?: (tokens: number) => void } {
  const asked = (body.serviceTier as { type?: unknown } | undefined)?.type;
  if (typeof asked !== 'string') return { echo: {} };
  if (asked !== 'reserved') return { echo: { serviceTier: { type: asked } } };
  const buckets = reserved.get(settings) ?? new ProvisionedBuckets();
  reserved.set(settings, buckets);
  const a = buckets.admit(modelId, settings.provisioned?.[modelId]);
  if (settings.provisioned?.[modelId] === undefined || !a.admitted)
    return { echo: { serviceTier: { type: 'default' } } };
  return { echo: { serviceTier: { type: 'reserved' } }, count: a.count };
}

export function startBedrockSimulator(opts: CloudSimStartOptions = {}): Promise<CloudSimulator> {
  const cloud = opts.cloud ?? 'aws';
  return startCloudSim({
    kind: 'bedrock',
    ...opts,
    async handle(ctx) {
      const { req, url } = ctx;
      const m = /^\/model\/([^/]+)\/(converse|converse-stream|invoke|invoke-with-response-stream)$/.exec(
        url.pathname,
      );
      if (!m || req.method !== 'POST')
        return awsError(
          ctx,
          404,
          'UnknownOperationException',
          `Unknown operation ${req.method} ${url.pathname}`,
        );
      // The AWS SDK sends `:` as %3A, AnthropicBedrock sends it raw (providers.md 4.1).
      const modelId = decodeURIComponent(m[1]!);
      const op = m[2]!;
      const auth = String(req.headers.authorization ?? '');
      const sigv4 =
        /^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/([a-z0-9-]+)\/bedrock\/aws4_request, SignedHeaders=[a-z0-9;:-]+, Signature=[0-9a-f]{64}$/.exec(
          auth,
        );
      if (!sigv4 && !/^Bearer .+/.test(auth))
        return awsError(
          ctx,
          403,
          'AccessDeniedException',
          'Authorization header requires Credential, SignedHeaders and Signature (SigV4) or a Bedrock API key.',
        );
      const sha = req.headers['x-amz-content-sha256'];
      if (sigv4 && typeof sha === 'string' && sha !== createHash('sha256').update(ctx.raw).digest('hex'))
        return awsError(
          ctx,
          400,
          'ValidationException',
          'The provided x-amz-content-sha256 header does not match what was computed.',
        );
      let body: Obj;
      try {
        body = JSON.parse(ctx.raw.toString('utf8')) as Obj;
      } catch {
        return awsError(
          ctx,
          400,
          'ValidationException',
          'Malformed input request, please reformat your input and try again.',
        );
      }
      const rec = ctx.record(body, modelId);
      if (op === 'invoke' && modelId.startsWith('amazon.titan-embed')) {
        // Titan Text Embeddings: one text per call.
        if (typeof body.inputText !== 'string')
          return awsError(ctx, 400, 'ValidationException', 'Malformed input request: inputText is required.');
        if (awsFault(ctx, ctx.takeFault())) return;
        const dims = typeof body.dimensions === 'number' ? body.dimensions : SIM_EMBEDDING_DIMS;
        const tokens = countWords(body.inputText);
        rec.usage = { inputTextTokenCount: tokens };
        return sendJson(ctx.res, 200, {
          embedding: simEmbedding(body.inputText, dims),
          inputTextTokenCount: tokens,
        });
      }
      const claude = op.startsWith('invoke');
      if (claude) {
        const bad = checkMessagesBody(body, String(body.anthropic_version));
        if (bad) return awsError(ctx, 400, 'ValidationException', (bad[1].error as Obj).message as string);
      } else if (!Array.isArray(body.messages) || body.messages.length === 0) {
        return awsError(ctx, 400, 'ValidationException', 'A conversation must start with a user message.');
      }
      const f = ctx.takeFault();
      if (ctx.settings.latencyMs > 0) await sleep(ctx.settings.latencyMs);
      if (awsFault(ctx, f)) return;
      const scripted = scriptReply(
        claude ? fromAnthropic(body) : fromConverse(body),
        `${cloud}/${modelId}`,
        ctx.settings.reply,
      );
      const reply = claude ? scripted : withReasoning(scripted, modelId);
      if (claude) {
        rec.usage = anthropicUsage(reply);
        if (op === 'invoke')
          return sendJson(ctx.res, 200, anthropicMessage(reply, modelId), {
            'x-amzn-requestid': randomUUID(),
          });
        const chunks = anthropicEvents(reply, modelId)
          .filter(([t]) => t !== 'ping')
          .map(([t, p]): [string, Obj, boolean] => [
            'chunk',
            { bytes: Buffer.from(JSON.stringify(p)).toString('base64') },
            t === 'content_block_delta',
          ]);
        return writeEventStream(ctx, chunks, f);
      }
      rec.usage = converseUsage(reply);
      const tier = serviceTier(body, modelId, ctx.settings);
      tier.count?.(reply.promptTokens - reply.cachedTokens + reply.completionTokens);
      if (op === 'converse-stream')
        return writeEventStream(
          ctx,
          converseEvents(reply, tier.echo).map(([t, p]): [string, Obj, boolean] => [
            t,
            p,
            t === 'contentBlockDelta',
          ]),
          f,
        );
      const c = reply.choices[0]!;
      sendJson(
        ctx.res,
        200,
        {
          output: {
            message: {
              role: 'assistant',
              content: [
                ...(reply.reasoningTokens > 0
                  ? [{ reasoningContent: { reasoningText: { text: reasoningWords(reply).join(' ') } } }]
                  : []),
                ...(c.toolCall
                  ? [
                      {
                        toolUse: {
                          toolUseId: toolUseId(c.toolCall.id),
                          name: c.toolCall.name,
                          input: JSON.parse(c.toolCall.arguments),
                        },
                      },
                    ]
                  : [{ text: c.words.join(' ') }]),
              ],
            },
          },
          stopReason: stopReason(c.finishReason),
          usage: converseUsage(reply),
          metrics: { latencyMs: 42 },
          ...tier.echo,
        },
        { 'x-amzn-requestid': randomUUID() },
      );
    },
  });
}
