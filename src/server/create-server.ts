// The composition root: the gateway core's OpenAI API, the admin API mounted under /v1/entente,
// the console, /metrics and the health probes, served by one node:http server with request ids,
// header and body limits, coded errors for malformed requests, and a graceful drain.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { type AdminContext, adminRoutes, metricsHandler } from '../admin/index.js';
import { consoleRoutes } from '../console/index.js';
import { errorBody, gatewayError } from '../errors/index.js';
import {
  createGatewayCore,
  type GatewayContext,
  type GatewayOptions,
  newRequestId,
} from '../gateway/index.js';
import { Exchange, Router, sendError, sendJson } from '../http/index.js';

const VERSION = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Paths whose handlers answer a draining server themselves, with a usage record. */
const BILLED = new Set(['/v1/chat/completions', '/v1/responses', '/v1/embeddings']);

/**
 * The hash nodes compare: the configuration without what differs by node by design (its port,
 * host, data folder and node id), so a node flagged as different really runs other settings.
 */
function configHash(config: GatewayOptions['config']): string {
  const { dataDir: _d, server, cluster, ...rest } = config;
  const { port: _p, host: _h, ...shared } = server;
  const { nodeId: _n, ...fleet } = cluster;
  return createHash('sha256')
    .update(JSON.stringify({ ...rest, server: shared, cluster: fleet }))
    .digest('hex')
    .slice(0, 16);
}

export interface Gateway {
  readonly server: Server;
  readonly context: GatewayContext;
  /** Resolves with the URL the gateway listens on. */
  listen(): Promise<string>;
  /** Stops accepting, drains in-flight requests (up to shutdownGraceMs), flushes the usage log. */
  close(): Promise<void>;
  /**
   * The pre-stop period: /readyz answers 503 (a load balancer takes the node out) while the
   * listener still serves; resolves after server.preStopMs of real time.
   */
  preStop(): Promise<void>;
  readonly inFlight: number;
  /** In a fleet: whether its Redis connection is up; null when the node runs alone. */
  readonly fleetConnected: boolean | null;
}

export async function createGateway(opts: GatewayOptions): Promise<Gateway> {
  const core = await createGatewayCore(opts);
  const { context } = core;
  const { config } = context;
  const admin: AdminContext = {
    config,
    clock: context.clock,
    store: core.store,
    catalog: context.catalog,
    routes: context.routes,
    licenseeOf: context.licenseeOf,
    usageLog: context.usageLog,
    priceBooks: context.priceBooks,
    metrics: context.metrics,
    health: context.health,
    loopDelay: core.loopDelay,
    announce: core.announce,
    reloadKeys: core.reloadKeys,
    limits: context.limits,
    capacity: context.capacity,
    node: {
      id: opts.nodeId ?? config.cluster.nodeId ?? `${hostname()}-${process.pid}`,
      version: VERSION,
      configHash: configHash(config),
      heartbeatMs: config.cluster.heartbeatMs,
    },
  };
  let draining = false;
  let notReady = false;
  const probes = new Router([
    {
      method: 'GET',
      path: '/healthz',
      handler: (_q, res, ex) => sendJson(res, 200, { status: 'ok' }, ex.requestId),
    },
    {
      method: 'GET',
      path: '/readyz',
      handler: (_q, res, ex) =>
        draining || notReady
          ? sendJson(res, 503, { status: 'draining' }, ex.requestId)
          : sendJson(
              res,
              200,
              { status: 'ready', keys: context.keys.size, models: context.catalog.size },
              ex.requestId,
            ),
    },
  ]);
  const app = new Router([{ method: 'GET', path: '/metrics', handler: metricsHandler(admin) }])
    .include(core.routes)
    .include(consoleRoutes())
    .mount('/v1/entente', adminRoutes(admin));
  const handle = (req: IncomingMessage, res: ServerResponse, ex: Exchange) => {
    if (ex.path === '/healthz' || ex.path === '/readyz') return probes.dispatch(req, res, ex);
    // The OpenAI API's billed routes refuse in their handlers, which record the refusal as usage.
    if (draining && !BILLED.has(ex.path)) {
      req.resume();
      res.setHeader('connection', 'close');
      return sendError(res, gatewayError('shutting_down'), ex.requestId);
    }
    return app.dispatch(req, res, ex);
  };

  let inFlight = 0;
  let drained: (() => void) | null = null;
  // One listener for every response: a response emits 'close' once (Node guards it with its
  // _closed flag), so neither a closure per request nor once()'s wrapper is needed.
  const onResponseClose = () => {
    inFlight--;
    if (inFlight === 0 && drained) drained();
  };
  const sockets = new Set<Socket>();
  const log = context.logger;
  const server = createServer(
    {
      maxHeaderSize: config.server.headerLimitBytes,
      keepAliveTimeout: config.server.keepAliveTimeoutMs,
      // Receiving the request (headers and body) is bounded; sending the answer is not (a stream
      // has streamMaxDurationMs). A slow sender is answered 408 and its connection closed.
      requestTimeout: config.server.receiveTimeoutMs,
      headersTimeout: Math.min(30_000, config.server.receiveTimeoutMs),
      // HTTP/1.0 clients and probes may omit Host; answer them like anyone else.
      requireHostHeader: false,
      connectionsCheckingInterval: Math.max(
        100,
        Math.min(1_000, Math.floor(config.server.receiveTimeoutMs / 4)),
      ),
    },
    (req, res) => {
      const t0 = performance.now();
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      const ex = new Exchange(
        newRequestId(context.clock.now()),
        t0,
        q === -1 ? url : url.slice(0, q),
        q === -1 ? '' : url.slice(q + 1),
      );
      inFlight++;
      res.on('close', onResponseClose);
      const bug = (err: unknown) => {
        log.error('request failed with a bug', {
          requestId: ex.requestId,
          error: (err as Error).stack ?? String(err),
        });
        if (!res.headersSent) sendError(res, gatewayError('internal_error'), ex.requestId);
        else res.destroy();
      };
      try {
        const done = handle(req, res, ex);
        if (done) done.catch(bug);
      } catch (err) {
        bug(err);
      }
    },
  );
  const perClient = new Map<string, number>();
  server.on('connection', (s: Socket) => {
    // Connection caps: a client (or a flood) that opens connections without end gets a coded 503
    // and a closed socket, and everyone else keeps theirs (issue: slow clients bounded).
    const addr = s.remoteAddress ?? '';
    const mine = (perClient.get(addr) ?? 0) + 1;
    if (sockets.size >= config.server.maxConnections || mine > config.server.maxConnectionsPerClient) {
      const total = sockets.size >= config.server.maxConnections;
      context.metrics.connectionsRefused.inc({ reason: total ? 'total' : 'per_client' });
      const body = errorBody(
        gatewayError(
          'too_many_connections',
          total
            ? `The gateway holds ${config.server.maxConnections} connections (server.maxConnections); retry later.`
            : `This address holds ${config.server.maxConnectionsPerClient} connections (server.maxConnectionsPerClient); reuse one.`,
        ),
      );
      s.end(
        `HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nretry-after: 1\r\nconnection: close\r\n\r\n${body}`,
      );
      return;
    }
    perClient.set(addr, mine);
    sockets.add(s);
    s.once('close', () => {
      sockets.delete(s);
      const n = (perClient.get(addr) ?? 1) - 1;
      if (n <= 0) perClient.delete(addr);
      else perClient.set(addr, n);
    });
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

  const startedAtMs = context.clock.now();
  let url = '';
  let heartbeat: { cancel(): void } | null = null;
  const beat = (state: string) =>
    core.store
      .heartbeatNode({
        nodeId: admin.node.id,
        version: admin.node.version,
        configHash: admin.node.configHash,
        url,
        startedAtMs,
        heartbeatAtMs: context.clock.now(),
        inFlight,
        state,
      })
      .catch((err: unknown) => log.warn('node heartbeat failed', { error: (err as Error).message }));
  return {
    server,
    context,
    get inFlight() {
      return inFlight;
    },
    get fleetConnected() {
      return core.fleetConnected;
    },
    listen: () =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.server.port, config.server.host, () => {
          server.off('error', reject);
          const a = server.address() as AddressInfo;
          const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
          url = `http://${host}:${a.port}`;
          void beat('serving');
          heartbeat = context.clock.setInterval(
            () => void beat(draining || notReady ? 'draining' : 'serving'),
            config.cluster.heartbeatMs,
          );
          resolve(url);
        });
      }),
    async preStop() {
      notReady = true;
      void beat('draining');
      // Real time: a load balancer's health checks run on the wall clock.
      if (config.server.preStopMs > 0)
        await new Promise<void>((r) => setTimeout(r, config.server.preStopMs).unref());
    },
    async close() {
      draining = true;
      context.draining = true;
      heartbeat?.cancel();
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeIdleConnections();
      if (inFlight > 0) {
        // The grace period is real time: a drain waits for real requests, whatever the clock.
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
      await beat('stopped');
      await core.close();
    },
  };
}
