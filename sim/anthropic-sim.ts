// A simulator of the Anthropic Messages API (https://docs.anthropic.com/en/api/messages), faithful
// enough for @anthropic-ai/sdk 1.x and 0.x: both auth headers, both API versions (2026-10-21
// refuses temperature/top_p/top_k), required max_tokens, named SSE events with pings, and
// Anthropic's error bodies (529 for overloaded). Its message and event builders also serve
// Claude on Bedrock (InvokeModel) and on Vertex (rawPredict) in the other simulators.
import { randomUUID } from 'node:crypto';
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
import { fromAnthropic } from './native-requests.js';
import { reasoningWords, type ScriptedReply, scriptReply } from './script-reply.js';
import type { Fault, RecordedRequest } from './sim-types.js';

export const ANTHROPIC_VERSIONS = new Set(['2023-06-01', '2026-10-21']);

type Obj = Record<string, unknown>;

export function anthropicUsage(r: ScriptedReply) {
  return {
    input_tokens: r.promptTokens - r.cachedTokens,
    output_tokens: r.completionTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: r.cachedTokens,
    // Extended thinking's tokens are part of output_tokens; the details say how many.
    ...(r.reasoningTokens > 0 ? { output_tokens_details: { thinking_tokens: r.reasoningTokens } } : {}),
  };
}

const SIGNATURE = 'c2ltLXNpZ25hdHVyZQ==';

const stopReason = (f: string) =>
  f === 'tool_calls' ? 'tool_use' : f === 'length' ? 'max_tokens' : 'end_turn';
const toolId = (id: string) => id.replace(/^call_/, 'toolu_');

export function anthropicMessage(r: ScriptedReply, model: string): Obj {
  const c = r.choices[0]!;
  return {
    id: `msg_${randomUUID().replace(/-/g, '')}`,
    type: 'message',
    role: 'assistant',
    model,
    content: [
      // Extended thinking comes first, as a thinking block with its signature.
      ...(r.reasoningTokens > 0
        ? [{ type: 'thinking', thinking: reasoningWords(r).join(' '), signature: SIGNATURE }]
        : []),
      ...(c.toolCall
        ? [
            {
              type: 'tool_use',
              id: toolId(c.toolCall.id),
              name: c.toolCall.name,
              input: JSON.parse(c.toolCall.arguments),
            },
          ]
        : [{ type: 'text', text: c.words.join(' '), citations: null }]),
    ],
    stop_reason: stopReason(c.finishReason),
    stop_sequence: null,
    usage: anthropicUsage(r),
  };
}

/** The event sequence of one streamed message: [event type, payload]. */
export function anthropicEvents(r: ScriptedReply, model: string): [string, Obj][] {
  const c = r.choices[0]!;
  const msg = anthropicMessage(r, model);
  const usage = anthropicUsage(r);
  const out: [string, Obj][] = [
    [
      'message_start',
      {
        type: 'message_start',
        // At the start, the output so far; the thinking's count comes with the final figures.
        message: {
          ...msg,
          content: [],
          stop_reason: null,
          usage: { ...usage, output_tokens: 1, output_tokens_details: undefined },
        },
      },
    ],
  ];
  // The answer's block follows the thinking block, when there is one.
  const at = r.reasoningTokens > 0 ? 1 : 0;
  if (at === 1) {
    out.push([
      'content_block_start',
      {
        type: 'content_block_start',
        index: 0,
        content_block: { type: 'thinking', thinking: '', signature: '' },
      },
    ]);
    reasoningWords(r).forEach((w, i) => {
      out.push([
        'content_block_delta',
        {
          type: 'content_block_delta',
          index: 0,
          delta: { type: 'thinking_delta', thinking: (i === 0 ? '' : ' ') + w },
        },
      ]);
    });
    out.push([
      'content_block_delta',
      { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: SIGNATURE } },
    ]);
    out.push(['content_block_stop', { type: 'content_block_stop', index: 0 }]);
  }
  if (c.toolCall) {
    out.push([
      'content_block_start',
      {
        type: 'content_block_start',
        index: at,
        content_block: { type: 'tool_use', id: toolId(c.toolCall.id), name: c.toolCall.name, input: {} },
      },
    ]);
    const a = c.toolCall.arguments;
    for (let p = 0; p < a.length; p += 8)
      out.push([
        'content_block_delta',
        {
          type: 'content_block_delta',
          index: at,
          delta: { type: 'input_json_delta', partial_json: a.slice(p, p + 8) },
        },
      ]);
  } else {
    out.push([
      'content_block_start',
      { type: 'content_block_start', index: at, content_block: { type: 'text', text: '' } },
    ]);
    out.push(['ping', { type: 'ping' }]);
    c.words.forEach((w, i) => {
      out.push([
        'content_block_delta',
        {
          type: 'content_block_delta',
          index: at,
          delta: { type: 'text_delta', text: (i === 0 ? '' : ' ') + w },
        },
      ]);
    });
  }
  out.push(['content_block_stop', { type: 'content_block_stop', index: at }]);
  out.push([
    'message_delta',
    {
      type: 'message_delta',
      delta: { stop_reason: stopReason(c.finishReason), stop_sequence: null },
      usage: { output_tokens: usage.output_tokens, output_tokens_details: usage.output_tokens_details },
    },
  ]);
  out.push(['message_stop', { type: 'message_stop' }]);
  return out;
}

export function anthropicError(type: string, message: string): Obj {
  return { type: 'error', error: { type, message }, request_id: `req_${randomUUID().replace(/-/g, '')}` };
}

/** Checks a Messages body; returns an [HTTP status, error body] when Anthropic would refuse it. */
export function checkMessagesBody(body: Obj, version: string): [number, Obj] | null {
  if (typeof body.max_tokens !== 'number')
    return [400, anthropicError('invalid_request_error', 'max_tokens: Field required')];
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    return [400, anthropicError('invalid_request_error', 'messages: Field required')];
  if (version === '2026-10-21') {
    for (const k of ['temperature', 'top_p', 'top_k'])
      if (k in body)
        return [
          400,
          anthropicError(
            'invalid_request_error',
            `${k}: Extra inputs are not permitted in API version 2026-10-21`,
          ),
        ];
  }
  return null;
}

/** Answers with the fault's Anthropic-shaped error; true when the fault answered the request. */
export function anthropicFault(ctx: RequestContext, f: Fault | null): boolean {
  return answerFault(ctx, f, {
    rateLimited: (s) =>
      sendJson(
        ctx.res,
        429,
        anthropicError('rate_limit_error', 'Number of requests has exceeded your rate limit.'),
        { 'retry-after': String(s), 'request-id': `req_${randomUUID()}` },
      ),
    serverError: () => sendJson(ctx.res, 500, anthropicError('api_error', 'Internal server error')),
    unavailable: () => sendJson(ctx.res, 529, anthropicError('overloaded_error', 'Overloaded')),
  });
}

/** Writes an Anthropic SSE stream, honouring the cut and stream_error faults. */
export async function writeAnthropicStream(
  ctx: RequestContext,
  events: [string, Obj][],
  f: Fault | null,
  rec?: RecordedRequest,
) {
  const { res } = ctx;
  writeHead(res, 200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'request-id': `req_${randomUUID()}`,
  });
  const after =
    f?.kind === 'cut' || f?.kind === 'stream_error' ? (f.afterChunks ?? 2) : Number.POSITIVE_INFINITY;
  let n = 0;
  for (const [type, payload] of events) {
    if (type === 'content_block_delta') {
      if (n++ >= after) {
        if (f?.kind === 'cut') return cutResponse(res);
        res.end(
          `event: error\ndata: ${JSON.stringify(anthropicError('overloaded_error', 'Overloaded'))}\n\n`,
        );
        return;
      }
      if (!(await pace(ctx.settings, res))) return;
    }
    write(res, `event: ${type}\ndata: ${JSON.stringify(payload)}\n\n`);
    if (rec) rec.eventsSent = (rec.eventsSent ?? 0) + 1;
  }
  res.end();
}

export function startAnthropicSimulator(opts: CloudSimStartOptions = {}): Promise<CloudSimulator> {
  const cloud = opts.cloud ?? 'anthropic';
  return startCloudSim({
    kind: 'anthropic',
    ...opts,
    async handle(ctx) {
      const { req, res, url } = ctx;
      if (url.pathname !== '/v1/messages' || req.method !== 'POST')
        return sendJson(
          res,
          404,
          anthropicError('not_found_error', `Not found: ${req.method} ${url.pathname}`),
        );
      const xKey = req.headers['x-api-key'];
      const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
      const key = (typeof xKey === 'string' ? xKey : undefined) ?? bearer; // x-api-key wins
      if (!key || (ctx.settings.apiKey && key !== ctx.settings.apiKey))
        return sendJson(res, 401, anthropicError('authentication_error', 'invalid x-api-key'));
      const version = String(req.headers['anthropic-version'] ?? '');
      if (!ANTHROPIC_VERSIONS.has(version))
        return sendJson(
          res,
          400,
          anthropicError('invalid_request_error', `anthropic-version: '${version}' is not a valid version`),
        );
      let body: Obj;
      try {
        body = JSON.parse(ctx.raw.toString('utf8')) as Obj;
      } catch {
        return sendJson(
          res,
          400,
          anthropicError('invalid_request_error', 'The request body is not valid JSON'),
        );
      }
      const rec = ctx.record(body, typeof body.model === 'string' ? body.model : null);
      const bad = checkMessagesBody(body, version);
      if (bad) return sendJson(res, bad[0], bad[1]);
      if (typeof body.model !== 'string')
        return sendJson(res, 400, anthropicError('invalid_request_error', 'model: Field required'));
      const f = ctx.takeFault();
      if (anthropicFault(ctx, f)) return;
      if (ctx.settings.latencyMs > 0) await sleep(ctx.settings.latencyMs);
      const reply = scriptReply(fromAnthropic(body), `${cloud}/${body.model}`, ctx.settings.reply);
      rec.usage = anthropicUsage(reply);
      if (body.stream === true) return writeAnthropicStream(ctx, anthropicEvents(reply, body.model), f, rec);
      sendJson(res, 200, anthropicMessage(reply, body.model), { 'request-id': `req_${randomUUID()}` });
    },
  });
}
