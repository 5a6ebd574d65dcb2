// Simulators of OpenAI and Azure OpenAI, faithful to the public API references
// (https://platform.openai.com/docs/api-reference, Azure OpenAI's REST reference): the same paths, auth headers, JSON bodies, SSE bytes and error shapes, so that the
// official `openai` SDK (its OpenAI and AzureOpenAI clients) accepts them. Each can be told its
// latency, token rate and faults through a small control API under /_sim/.
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { systemClock } from '../src/clock/index.js';
import { FaultSlot, sendJson, sleep } from './cloud-sim.js';
import { ProvisionedBuckets } from './provisioned.js';
import {
  countWords,
  type ScriptedReply,
  SIM_EMBEDDING_DIMS,
  scriptReply,
  simEmbedding,
} from './script-reply.js';
import type { Fault, RecordedRequest, SimSettings } from './sim-types.js';

export type SimKind = 'openai' | 'azure-openai';

export type { Fault, FaultKind, RecordedRequest, SimSettings } from './sim-types.js';

export interface Simulator {
  readonly kind: SimKind;
  readonly url: string;
  readonly server: Server;
  readonly settings: SimSettings;
  readonly requests: RecordedRequest[];
  setFault(fault: Fault | null): void;
  close(): Promise<void>;
}

export interface SimOptions {
  readonly kind: SimKind;
  readonly id?: string;
  readonly cloud?: string;
  readonly port?: number;
  readonly host?: string;
  readonly latencyMs?: number;
  readonly tokensPerSecond?: number;
  readonly apiKey?: string;
  /** Keep at most this many requests for inspection. */
  readonly recordLimit?: number;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function startSimulator(opts: SimOptions): Promise<Simulator> {
  const kind = opts.kind;
  const cloud = opts.cloud ?? (kind === 'azure-openai' ? 'azure' : 'openai');
  const settings: SimSettings = {
    latencyMs: opts.latencyMs ?? 0,
    tokensPerSecond: opts.tokensPerSecond ?? 0,
    ...(opts.apiKey ? { apiKey: opts.apiKey } : {}),
  };
  const requests: RecordedRequest[] = [];
  const recordLimit = opts.recordLimit ?? 1000;
  const fault = new FaultSlot();
  const takeFault = () => fault.take();
  const sockets = new Set<Socket>();

  const errorJson = (status: number, message: string, type: string, code: string | null) =>
    kind === 'azure-openai'
      ? {
          error: {
            code: code ?? String(status),
            message,
            ...(status === 400 ? { type: 'invalid_request_error', param: null } : {}),
          },
        }
      : { error: { message, type, param: null, code } };

  const handleControl = async (req: IncomingMessage, res: ServerResponse, path: string) => {
    if (path === '/_sim/fault' && req.method === 'POST') {
      fault.set(JSON.parse((await readBody(req)) || 'null') as Fault | null);
      return sendJson(res, 200, { ok: true });
    }
    if (path === '/_sim/settings' && req.method === 'POST') {
      Object.assign(settings, JSON.parse(await readBody(req)) as Partial<SimSettings>);
      return sendJson(res, 200, settings);
    }
    if (path === '/_sim/requests') return sendJson(res, 200, { count: requests.length, requests });
    return sendJson(res, 404, { error: 'unknown control route' });
  };

  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://sim');
    const path = url.pathname;
    try {
      if (path.startsWith('/_sim/')) return await handleControl(req, res, path);
      let deployment: string | null = null;
      const embeddingsPath =
        kind === 'azure-openai'
          ? /^\/openai\/(?:deployments\/([^/]+)|v1)\/embeddings$/.exec(path)
          : path === '/v1/embeddings'
            ? [path]
            : null;
      if (embeddingsPath && req.method === 'POST')
        return await embeddings(req, res, url, embeddingsPath[1] ?? null);
      if (kind === 'azure-openai') {
        const m = /^\/openai\/deployments\/([^/]+)\/chat\/completions$/.exec(path);
        if (m) {
          deployment = decodeURIComponent(m[1]!);
          if (!url.searchParams.get('api-version')) {
            return sendJson(res, 404, { error: { code: '404', message: 'Resource not found' } });
          }
        } else if (path !== '/openai/v1/chat/completions') {
          return sendJson(res, 404, { error: { code: '404', message: 'Resource not found' } });
        }
      } else if (path === '/v1/models' && req.method === 'GET') {
        return sendJson(res, 200, {
          object: 'list',
          data: [{ id: 'gpt-4o', object: 'model', created: 1700000000, owned_by: 'system' }],
        });
      } else if (path !== '/v1/chat/completions') {
        return sendJson(
          res,
          404,
          errorJson(
            404,
            `Unknown request URL: ${req.method} ${path}.`,
            'invalid_request_error',
            'unknown_url',
          ),
        );
      }
      if (req.method !== 'POST')
        return sendJson(res, 405, errorJson(405, 'Method not allowed', 'invalid_request_error', null));

      // Auth: OpenAI takes a Bearer token; Azure takes api-key or Bearer on every route.
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const key =
        kind === 'azure-openai' ? ((req.headers['api-key'] as string | undefined) ?? bearer) : bearer;
      if (!key || (settings.apiKey && key !== settings.apiKey)) {
        return kind === 'azure-openai'
          ? sendJson(res, 401, {
              error: {
                code: '401',
                message:
                  'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.',
              },
            })
          : sendJson(
              res,
              401,
              errorJson(401, 'Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key'),
            );
      }

      const raw = await readBody(req);
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        return sendJson(
          res,
          400,
          errorJson(400, 'We could not parse the JSON body of your request.', 'invalid_request_error', null),
        );
      }
      if (requests.length >= recordLimit) requests.shift();
      requests.push({ method: req.method, url: req.url ?? '', headers: req.headers, body, deployment });
      if (!Array.isArray(body.messages) || body.messages.length === 0) {
        return sendJson(
          res,
          400,
          errorJson(
            400,
            "Missing required parameter: 'messages'.",
            'invalid_request_error',
            'missing_required_parameter',
          ),
        );
      }
      if (kind === 'openai' && typeof body.model !== 'string') {
        return sendJson(
          res,
          400,
          errorJson(400, 'you must provide a model parameter', 'invalid_request_error', null),
        );
      }
      const model = deployment ?? (body.model as string);

      const f = takeFault();
      if (f?.kind === 'reset') {
        req.socket.destroy();
        return;
      }
      if (f?.kind === 'hang') return; // the socket is closed when the client gives up or the sim closes
      if (settings.latencyMs > 0) await sleep(settings.latencyMs);
      if (f?.kind === 'rate_limit') {
        const s = f.retryAfterS ?? 1;
        const headers = {
          'retry-after': String(s),
          'retry-after-ms': String(s * 1000),
          'x-ratelimit-remaining-requests': '0',
        };
        return kind === 'azure-openai'
          ? sendJson(
              res,
              429,
              {
                error: {
                  code: '429',
                  message: `Requests to the ChatCompletions_Create Operation under Azure OpenAI API version ${url.searchParams.get('api-version') ?? 'v1'} have exceeded token rate limit of your current AIServices S0 pricing tier. Please retry after ${s} seconds.`,
                },
              },
              headers,
            )
          : sendJson(
              res,
              429,
              errorJson(429, 'Rate limit reached for requests', 'requests', 'rate_limit_exceeded'),
              headers,
            );
      }
      if (f?.kind === 'server_error') {
        return sendJson(
          res,
          500,
          errorJson(
            500,
            'The server had an error while processing your request. Sorry about that!',
            'server_error',
            null,
          ),
        );
      }
      if (f?.kind === 'unavailable') {
        return sendJson(
          res,
          503,
          errorJson(503, 'The engine is currently overloaded, please try again later', 'server_error', null),
        );
      }
      if (f?.kind === 'content_filter' && kind === 'azure-openai') {
        return sendJson(res, 400, {
          error: {
            message:
              "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
            type: null,
            param: 'prompt',
            code: 'content_filter',
            status: 400,
            innererror: {
              code: 'ResponsibleAIPolicyViolation',
              content_filter_result: { hate: { filtered: true, severity: 'high' } },
            },
          },
        });
      }
      const ptu = kind === 'azure-openai' ? provisioned(req, model) : scaleTier(body, model);
      if ('full' in ptu) return sendJson(res, 429, ptu.full.body, ptu.full.headers);
      const reply = scriptReply(
        body,
        `${cloud}/${('servedBy' in ptu && ptu.servedBy) || model}`,
        settings.reply,
      );
      ptu.count?.(reply.promptTokens - reply.cachedTokens + reply.completionTokens);
      const stream = body.stream === true;
      const tier = 'tier' in ptu ? ptu.tier : 'default';
      if (stream) return await streamReply(res, body, model, reply, f, ptu.extra, tier);
      return sendCompletion(res, model, reply, f, ptu.extra, tier);
    } catch (err) {
      if (!res.headersSent)
        sendJson(res, 500, errorJson(500, `simulator bug: ${(err as Error).message}`, 'server_error', null));
      else res.destroy();
    }
  });

  /** POST /v1/embeddings (OpenAI) and /openai/deployments/{d}/embeddings (Azure). */
  async function embeddings(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    dep: string | null,
  ): Promise<void> {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const key = kind === 'azure-openai' ? ((req.headers['api-key'] as string | undefined) ?? bearer) : bearer;
    if (!key || (settings.apiKey && key !== settings.apiKey))
      return sendJson(
        res,
        401,
        errorJson(401, 'Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key'),
      );
    if (kind === 'azure-openai' && dep && !url.searchParams.get('api-version'))
      return sendJson(res, 404, { error: { code: '404', message: 'Resource not found' } });
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(await readBody(req)) as Record<string, unknown>;
    } catch {
      return sendJson(
        res,
        400,
        errorJson(400, 'We could not parse the JSON body of your request.', 'invalid_request_error', null),
      );
    }
    const deployment = dep ?? String(body.model);
    const rec: RecordedRequest = {
      method: 'POST',
      url: req.url ?? '',
      headers: req.headers,
      body,
      deployment,
    };
    if (requests.length >= recordLimit) requests.shift();
    requests.push(rec);
    const input = body.input;
    const items: (string | number[])[] =
      typeof input === 'string'
        ? [input]
        : Array.isArray(input) && input.every((x) => typeof x === 'number')
          ? [input as number[]]
          : Array.isArray(input)
            ? (input as (string | number[])[])
            : [];
    if (items.length === 0)
      return sendJson(
        res,
        400,
        errorJson(400, "'input' is a required property", 'invalid_request_error', null),
      );
    const f = takeFault();
    if (settings.latencyMs > 0) await sleep(settings.latencyMs);
    if (f?.kind === 'hang') return; // the socket is closed when the client gives up or the sim closes
    if (f?.kind === 'rate_limit')
      return sendJson(
        res,
        429,
        errorJson(429, 'Rate limit reached for requests', 'requests', 'rate_limit_exceeded'),
        {
          'retry-after': String(f.retryAfterS ?? 1),
        },
      );
    if (f?.kind === 'server_error' || f?.kind === 'unavailable')
      return sendJson(
        res,
        f.kind === 'unavailable' ? 503 : 500,
        errorJson(500, 'The server had an error.', 'server_error', null),
      );
    const dims = typeof body.dimensions === 'number' ? body.dimensions : SIM_EMBEDDING_DIMS;
    let tokens = 0;
    const data = items.map((it, index) => {
      const text = typeof it === 'string' ? it : it.join(' ');
      tokens += typeof it === 'string' ? countWords(it) : it.length;
      const v = simEmbedding(text, dims);
      const f32 = new Float32Array(v);
      return {
        object: 'embedding',
        index,
        embedding: body.encoding_format === 'base64' ? Buffer.from(f32.buffer).toString('base64') : v,
      };
    });
    rec.usage = { prompt_tokens: tokens, total_tokens: tokens };
    sendJson(res, 200, { object: 'list', data, model: deployment, usage: rec.usage });
  }

  const filterResults = {
    hate: { filtered: false, severity: 'safe' },
    self_harm: { filtered: false, severity: 'safe' },
    sexual: { filtered: false, severity: 'safe' },
    violence: { filtered: false, severity: 'safe' },
  };

  const usageOf = (r: ScriptedReply) => ({
    prompt_tokens: r.promptTokens,
    completion_tokens: r.completionTokens,
    total_tokens: r.promptTokens + r.completionTokens,
    prompt_tokens_details: { cached_tokens: r.cachedTokens, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: r.reasoningTokens,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  });

  /** Azure PTU: 60 s of (time, tokens) per provisioned deployment. */
  const ptu = new ProvisionedBuckets();

  function provisioned(
    req: IncomingMessage,
    deployment: string,
  ):
    | { full: { body: unknown; headers: Record<string, string> } }
    | { extra: Record<string, string>; servedBy?: string; count?: (tokens: number) => void } {
    const a = ptu.admit(deployment, settings.provisioned?.[deployment]);
    if (a.admitted) return { extra: {}, count: a.count };
    const spill = req.headers['x-ms-spillover-deployment'];
    if (typeof spill === 'string' && spill)
      return { extra: { [`x-ms-spillover-from-${deployment}`]: 'true' }, servedBy: spill };
    return {
      full: {
        body: {
          error: {
            code: '429',
            message: `Requests to the ChatCompletions_Create Operation have exceeded the provisioned throughput of deployment ${deployment} (utilization 100%). Retry after ${Math.ceil(a.waitMs / 1000)} seconds, or use a spill-over deployment.`,
          },
        },
        headers: { 'retry-after-ms': String(a.waitMs), 'retry-after': String(Math.ceil(a.waitMs / 1000)) },
      },
    };
  }

  /**
   * OpenAI's scale tier: a model with reserved capacity (settings.provisioned) serves a request
   * whose service_tier is `auto` (the default) from the reservation while it has room, else from
   * the default tier; the answer's `service_tier` says which (`scale` or `default`).
   */
  function scaleTier(
    body: Record<string, unknown>,
    model: string,
  ): { extra: Record<string, string>; tier: string; count?: (tokens: number) => void } {
    const asked = body.service_tier ?? 'auto';
    if (asked !== 'auto' && asked !== 'scale') return { extra: {}, tier: String(asked) };
    const capacity = settings.provisioned?.[model];
    if (capacity === undefined) return { extra: {}, tier: 'default' };
    const a = scale.admit(model, capacity);
    return a.admitted ? { extra: {}, tier: 'scale', count: a.count } : { extra: {}, tier: 'default' };
  }
  const scale = new ProvisionedBuckets();

  function sendCompletion(
    res: ServerResponse,
    model: string,
    reply: ScriptedReply,
    f: Fault | null,
    extra: Record<string, string> = {},
    tier = 'default',
  ): void {
    const body = {
      id: `chatcmpl-${randomUUID()}`,
      object: 'chat.completion',
      created: Math.floor(systemClock.now() / 1000),
      model,
      system_fingerprint: 'fp_sim',
      ...(kind === 'azure-openai'
        ? { prompt_filter_results: [{ prompt_index: 0, content_filter_results: filterResults }] }
        : { service_tier: tier }),
      choices: reply.choices.map((c, index) => ({
        index,
        message: {
          role: 'assistant',
          content: c.toolCall ? null : c.words.join(' '),
          refusal: null,
          annotations: [],
          ...(c.toolCall
            ? {
                tool_calls: [
                  {
                    id: c.toolCall.id,
                    type: 'function',
                    function: { name: c.toolCall.name, arguments: c.toolCall.arguments },
                  },
                ],
              }
            : {}),
        },
        logprobs: null,
        finish_reason: c.finishReason,
        ...(kind === 'azure-openai' ? { content_filter_results: filterResults } : {}),
      })),
      usage: usageOf(reply),
    };
    const text = JSON.stringify(body);
    if (f?.kind === 'cut') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.write(text.slice(0, Math.floor(text.length / 2)));
      setTimeout(() => res.destroy(), 5);
      return;
    }
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'x-request-id': randomUUID(),
      ...extra,
    });
    res.end(text);
  }

  /** Cuts the connection once what was written has reached the client. */
  async function cut(res: ServerResponse): Promise<void> {
    await sleep(30);
    res.destroy();
  }

  /** OpenAI's in-stream error: an `error` object as a data event, then the stream ends. */
  function streamError(res: ServerResponse): void {
    res.end(
      `data: ${JSON.stringify({ error: { message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error', param: null, code: null } })}\n\n`,
    );
  }

  /** 1 to 16 random characters, as OpenAI's `obfuscation` field carries. */
  const padding = () =>
    randomBytes(12)
      .toString('base64url')
      .slice(0, 1 + Math.floor(Math.random() * 16));

  async function streamReply(
    res: ServerResponse,
    body: Record<string, unknown>,
    model: string,
    reply: ScriptedReply,
    f: Fault | null,
    extra: Record<string, string> = {},
    tier = 'default',
  ): Promise<void> {
    const streamOptions = body.stream_options as
      | { include_usage?: boolean; include_obfuscation?: boolean }
      | undefined;
    const includeUsage = streamOptions?.include_usage === true;
    // OpenAI pads every chunk with a random string of random length, unless asked not to.
    const obfuscate = kind === 'openai' && streamOptions?.include_obfuscation !== false;
    const id = `chatcmpl-${randomUUID()}`;
    const created = Math.floor(systemClock.now() / 1000);
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      ...extra,
    });
    // The head goes out, then nothing: the socket stays open until the client gives up.
    if (f?.kind === 'stall') return void res.flushHeaders();
    const send = (obj: unknown) => res.write(`data: ${JSON.stringify(obj)}\n\n`);
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) =>
      send({
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        system_fingerprint: 'fp_sim',
        ...(kind === 'azure-openai' ? {} : { service_tier: tier }),
        choices,
        ...(includeUsage ? { usage: null } : {}),
        ...extra,
        ...(obfuscate ? { obfuscation: padding() } : {}),
      });
    const delayMs = settings.tokensPerSecond > 0 ? 1000 / settings.tokensPerSecond : 0;
    const cutAfter = f?.kind === 'cut' ? (f.afterChunks ?? 2) : Number.POSITIVE_INFINITY;
    const errorAfter = f?.kind === 'stream_error' ? (f.afterChunks ?? 2) : Number.POSITIVE_INFINITY;
    let sent = 0;
    const filter = kind === 'azure-openai' ? { content_filter_results: filterResults } : {};
    if (kind === 'azure-openai') {
      send({
        choices: [],
        created: 0,
        id: '',
        model: '',
        object: '',
        prompt_filter_results: [{ prompt_index: 0, content_filter_results: filterResults }],
      });
    }
    for (let i = 0; i < reply.choices.length; i++) {
      chunk([
        {
          index: i,
          delta: { role: 'assistant', content: '', refusal: null },
          logprobs: null,
          finish_reason: null,
        },
      ]);
    }
    for (let i = 0; i < reply.choices.length; i++) {
      const c = reply.choices[i]!;
      if (c.toolCall) {
        chunk([
          {
            index: i,
            delta: {
              tool_calls: [
                {
                  index: 0,
                  id: c.toolCall.id,
                  type: 'function',
                  function: { name: c.toolCall.name, arguments: '' },
                },
              ],
            },
            logprobs: null,
            finish_reason: null,
          },
        ]);
        // Arguments arrive in fragments, as OpenAI sends them.
        const a = c.toolCall.arguments;
        for (let p = 0; p < a.length; p += 8) {
          if (sent >= errorAfter) return streamError(res);
          if (sent++ >= cutAfter) return cut(res);
          if (delayMs) await sleep(delayMs);
          chunk([
            {
              index: i,
              delta: { tool_calls: [{ index: 0, function: { arguments: a.slice(p, p + 8) } }] },
              logprobs: null,
              finish_reason: null,
            },
          ]);
        }
      } else {
        for (let w = 0; w < c.words.length; w++) {
          if (sent >= errorAfter) return streamError(res);
          if (sent++ >= cutAfter) return cut(res);
          if (delayMs) await sleep(delayMs);
          if (res.destroyed) return;
          chunk([
            {
              index: i,
              delta: { content: (w === 0 ? '' : ' ') + c.words[w] },
              logprobs: null,
              finish_reason: null,
              ...filter,
            },
          ]);
        }
      }
      chunk([{ index: i, delta: {}, logprobs: null, finish_reason: c.finishReason, ...filter }]);
    }
    if (includeUsage)
      send({
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        system_fingerprint: 'fp_sim',
        ...(kind === 'azure-openai' ? {} : { service_tier: tier }),
        choices: [],
        usage: usageOf(reply),
      });
    res.end('data: [DONE]\n\n');
  }

  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.keepAliveTimeout = 60_000;

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        kind,
        url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
        server,
        settings,
        requests,
        setFault: (f) => fault.set(f),
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}
