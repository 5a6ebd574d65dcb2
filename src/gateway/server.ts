// The data plane's HTTP server: request ids, limits, auth, dispatch, graceful drain.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { handleAdmin, handleMetrics, isAdminPath } from '../admin/index.js';
import type { Config } from '../config/index.js';
import { isConsolePath, serveConsole } from '../console/index.js';
import { errorBody, gatewayError } from '../errors/index.js';
import { Meter, type PriceBooks, UsageLog } from '../ledger/index.js';
import {
  createGatewayMetrics,
  createOtlpTracer,
  type Logger,
  noopTracer,
  silentLogger,
} from '../observability/index.js';
import { compileCatalog, HealthTracker } from '../routing/index.js';
import type { Store } from '../store/index.js';
import { KeyRing, mayCall, presentedKey } from './auth.js';
import { handleChatCompletions } from './chat-completions.js';
import type { GatewayContext, GatewayEvents } from './context.js';
import { handleEmbeddings } from './embeddings.js';
import { LiveRoutes } from './live-routes.js';
import { sendError, sendJson } from './respond.js';
import { createUpstream, type Upstream } from './upstreams.js';

export interface GatewayOptions {
  readonly config: Config;
  readonly store: Store;
  /** Simulator id → base URL, for upstreams whose baseUrl is sim://<id>. */
  readonly simUrls?: ReadonlyMap<string, string>;
  readonly env?: NodeJS.ProcessEnv;
  readonly logger?: Logger;
  readonly events?: GatewayEvents;
  /** How often keys are re-read from the store. */
  readonly keyRefreshMs?: number;
  /** The agreement file (resolved path); none = no licence or first-deployment rules. */
  readonly agreementFile?: string | null;
  /** Price books: metering posts usage to the ledger every ledger.intervalMs. */
  readonly priceBooks?: PriceBooks | null;
}

export interface Gateway {
  readonly server: Server;
  readonly context: GatewayContext;
  /** Resolves with the URL the gateway listens on. */
  listen(): Promise<string>;
  /** Stops accepting, drains in-flight requests (up to shutdownGraceMs), flushes the usage log. */
  close(): Promise<void>;
  readonly inFlight: number;
}

const CREATED_S = Math.floor(Date.now() / 1000);

/**
 * `req_` + 12 hex digits of milliseconds + 20 random hex digits (like a UUIDv7). Time-ordered ids
 * keep the B-tree inserts of usage records and ledger transactions (keyed by them) at the right
 * edge of their indexes, instead of dirtying a random page per row.
 */
export function newRequestId(): string {
  const r = randomUUID();
  return `req_${Date.now().toString(16).padStart(12, '0')}${r.slice(0, 8)}${r.slice(9, 13)}${r.slice(14, 18)}${r.slice(19, 23)}`;
}

export async function createGateway(opts: GatewayOptions): Promise<Gateway> {
  const { config, store } = opts;
  const log = opts.logger ?? silentLogger;
  const env = opts.env ?? process.env;
  const upstreams = new Map<string, Upstream>();
  for (const u of config.upstreams)
    upstreams.set(u.id, createUpstream(u, opts.simUrls ?? new Map(), env, log));
  // Upstreams that mint their own tokens (Vertex service accounts) start with one in hand.
  await Promise.all([...upstreams.values()].map((u) => u.tokenSource?.start()));
  const keys = new KeyRing(await store.listApiKeys());
  // Created below once the route table (and so the agreement) is loaded.
  let meter: Meter | null = null;
  const usageLog = new UsageLog(store, {
    batchSize: config.usage.batchSize,
    flushIntervalMs: config.usage.flushIntervalMs,
    onError: (err) => log.error('usage log write failed; will retry', { error: (err as Error).message }),
    onWritten: (records) => meter?.postWritten(records),
  });
  const metrics = createGatewayMetrics();
  const otlp = config.observability.otlp;
  const tracer = otlp ? createOtlpTracer(otlp, log) : noopTracer;
  const health = new HealthTracker(config.routing.cooldown, {
    onCooldown: (key, untilMs, reason) => {
      metrics.cooldowns.inc({ deployment: key, reason });
      log.warn('deployment cooling down', {
        deployment: key,
        until: new Date(untilMs).toISOString(),
        reason,
      });
    },
  });
  const catalog = compileCatalog(config);
  const licenseeOf = new Map(
    config.tenants.flatMap((t) => (t.licensee ? [[t.id, t.licensee] as const] : [])),
  );
  const routes = await LiveRoutes.start({
    catalog,
    store,
    agreementFile: opts.agreementFile ?? null,
    licensees: [...new Set(licenseeOf.values())],
    pollMs: config.agreement?.pollMs ?? 1_000,
    logger: log,
    onRebuild: (_table, cause) => metrics.rebuilds.inc({ cause }),
  });
  const context: GatewayContext = {
    config,
    catalog,
    routes,
    licenseeOf,
    upstreams,
    health,
    keys,
    usageLog,
    events: opts.events ?? {},
    priceBooks: opts.priceBooks ?? null,
    refuseUnpriced: (opts.priceBooks ?? null) !== null && config.ledger?.unpriced !== 'flag',
    metrics,
    tracer,
    logger: log,
  };
  meter = opts.priceBooks
    ? new Meter(
        store,
        () => ({
          priceBooks: opts.priceBooks!,
          agreement: routes.agreement,
          owner: config.ledger?.owner ?? 'operator',
        }),
        config.ledger?.intervalMs ?? 1_000,
        log,
      )
    : null;

  let draining = false;
  let inFlight = 0;
  let drained: (() => void) | null = null;
  const sockets = new Set<Socket>();

  const refresh = setInterval(() => {
    store.listApiKeys().then(
      (k) => keys.replace(k),
      (err: unknown) => log.error('could not refresh API keys', { error: (err as Error).message }),
    );
  }, opts.keyRefreshMs ?? 5_000);
  refresh.unref();

  const handle = async (req: IncomingMessage, res: ServerResponse, requestId: string, t0: number) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';

    if (path === '/healthz') return sendJson(res, 200, { status: 'ok' }, requestId);
    if (path === '/readyz') {
      return draining
        ? sendJson(res, 503, { status: 'draining' }, requestId)
        : sendJson(res, 200, { status: 'ready', keys: keys.size, models: context.catalog.size }, requestId);
    }
    if (draining) {
      res.setHeader('connection', 'close');
      return sendError(res, gatewayError('shutting_down'), requestId);
    }
    if (isAdminPath(path)) return handleAdmin(context, req, res, requestId);
    if (isConsolePath(path) && method === 'GET' && serveConsole(path, res, requestId)) return;
    if (path === '/metrics') return handleMetrics(context, req, res, requestId, () => meter);
    const isChat = path === '/v1/chat/completions' || path === '/v1/responses' || path === '/v1/embeddings';
    const isModels = path === '/v1/models' || path.startsWith('/v1/models/');
    if (!isChat && !isModels) {
      req.resume();
      return sendError(
        res,
        gatewayError(
          'not_found',
          `No route for ${method} ${path}. Entente serves POST /v1/chat/completions, POST /v1/responses, POST /v1/embeddings and GET /v1/models.`,
        ),
        requestId,
      );
    }
    if ((isChat && method !== 'POST') || (isModels && method !== 'GET')) {
      req.resume();
      res.setHeader('allow', isChat ? 'POST' : 'GET');
      return sendError(
        res,
        gatewayError('method_not_allowed', `${path} accepts ${isChat ? 'POST' : 'GET'}, not ${method}.`),
        requestId,
      );
    }
    const key = presentedKey(req.headers);
    if (!key) {
      req.resume();
      return sendError(res, gatewayError('missing_api_key'), requestId);
    }
    const caller = keys.lookup(key);
    if (!caller) {
      req.resume();
      return sendError(
        res,
        gatewayError(
          'invalid_api_key',
          'Incorrect API key provided. Keys are issued with `entente keys create`.',
        ),
        requestId,
      );
    }
    if (isModels) {
      const table = routes.table;
      const licensee = licenseeOf.get(caller.tenantId) ?? null;
      const visible = [...context.catalog.values()].filter(
        (m) => mayCall(caller, m.name) && (table.licence(licensee, m.name)?.allowed ?? true),
      );
      const toModel = (m: { name: string; ownedBy: string }) => ({
        id: m.name,
        object: 'model',
        created: CREATED_S,
        owned_by: m.ownedBy,
      });
      if (path === '/v1/models')
        return sendJson(res, 200, { object: 'list', data: visible.map(toModel) }, requestId);
      const id = decodeURIComponent(path.slice('/v1/models/'.length));
      const m = visible.find((v) => v.name === id);
      return m
        ? sendJson(res, 200, toModel(m), requestId)
        : sendError(
            res,
            gatewayError('model_not_found', `The model '${id}' does not exist or this key may not use it.`, {
              param: 'model',
            }),
            requestId,
          );
    }
    if (path === '/v1/embeddings') return handleEmbeddings(context, req, res, requestId, t0, caller);
    return handleChatCompletions(
      context,
      req,
      res,
      requestId,
      t0,
      caller,
      path === '/v1/responses' ? 'responses' : 'chat',
    );
  };

  const server = createServer(
    {
      maxHeaderSize: config.server.headerLimitBytes,
      keepAliveTimeout: config.server.keepAliveTimeoutMs,
      requestTimeout: 0, // streams may be long; each has streamMaxDurationMs instead
      headersTimeout: 30_000,
    },
    (req, res) => {
      const t0 = performance.now();
      const requestId = newRequestId();
      inFlight++;
      res.once('close', () => {
        inFlight--;
        if (inFlight === 0 && drained) drained();
      });
      handle(req, res, requestId, t0).catch((err: unknown) => {
        log.error('request failed with a bug', { requestId, error: (err as Error).stack ?? String(err) });
        if (!res.headersSent) sendError(res, gatewayError('internal_error'), requestId);
        else res.destroy();
      });
    },
  );
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  // Malformed requests and oversized headers: answer in the OpenAI shape instead of Node's bare 400/431.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable || (err.code === 'ECONNRESET' && !socket.bytesWritten)) {
      socket.destroy();
      return;
    }
    const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
    const body = errorBody(
      tooLarge
        ? gatewayError(
            'headers_too_large',
            `The request headers are larger than ${config.server.headerLimitBytes} bytes (server.headerLimitBytes).`,
          )
        : gatewayError('invalid_request', 'The HTTP request is malformed.'),
    );
    socket.end(
      `HTTP/1.1 ${tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  });

  return {
    server,
    context,
    get inFlight() {
      return inFlight;
    },
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.server.port, config.server.host, () => {
          server.off('error', reject);
          const a = server.address() as AddressInfo;
          const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
          resolve(`http://${host}:${a.port}`);
        });
      }),
    async close() {
      draining = true;
      clearInterval(refresh);
      routes.stop();
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      if (inFlight > 0) {
        await Promise.race([
          new Promise<void>((r) => {
            drained = r;
          }),
          new Promise<void>((r) => setTimeout(r, config.server.shutdownGraceMs).unref()),
        ]);
      }
      for (const s of sockets) s.destroy();
      await closed;
      // Give handlers of destroyed sockets a turn to append their records.
      await new Promise((r) => setImmediate(r));
      await usageLog.close();
      await meter?.stop();
      await tracer.close();
      for (const u of upstreams.values()) u.tokenSource?.stop();
      await Promise.all([...upstreams.values()].map((u) => u.pool.close().catch(() => undefined)));
    },
  };
}
