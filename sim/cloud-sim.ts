// The common frame of the Bedrock, Google and Anthropic simulators: one loopback port that speaks
// HTTP/1.1 and cleartext HTTP/2 (the AWS SDK's default handler uses h2c with prior knowledge,
// https://docs.aws.amazon.com/sdk-for-javascript/v3/developer-guide/http2.html), the same /_sim/ control API and fault kinds as the OpenAI
// family simulator, and a record of the requests each simulator received.
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  createServer as createH2Server,
  type Http2ServerRequest,
  type Http2ServerResponse,
  constants as h2constants,
} from 'node:http2';
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { type Clock, systemClock } from '../src/clock/index.js';
import type { Fault, RecordedRequest, SimSettings } from './sim-types.js';

export type SimRequest = IncomingMessage | Http2ServerRequest;
export type SimResponse = ServerResponse | Http2ServerResponse;

export interface CloudSimulator {
  readonly kind: string;
  readonly url: string;
  readonly settings: SimSettings;
  readonly requests: RecordedRequest[];
  setFault(fault: Fault | null): void;
  close(): Promise<void>;
}

export interface RequestContext {
  readonly req: SimRequest;
  readonly res: SimResponse;
  readonly url: URL;
  readonly raw: Buffer;
  /** Takes the current fault for this request (counted faults count down). */
  takeFault(): Fault | null;
  record(body: unknown, deployment: string | null): RecordedRequest;
  readonly settings: SimSettings;
  /** The simulated cloud's clock (token lifetimes); a test may share its ManualClock with the gateway. */
  readonly clock: Clock;
}

/** writeHead on either protocol (their overloads differ only in types). */
export function writeHead(res: SimResponse, status: number, headers: Record<string, string>): void {
  (res as ServerResponse).writeHead(status, headers);
}

export function write(res: SimResponse, chunk: string | Buffer): boolean {
  return (res as ServerResponse).write(chunk);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function sendJson(
  res: SimResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  writeHead(res, status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** Breaks the connection (HTTP/1.1) or resets the stream (HTTP/2) once written bytes have left. */
export async function cutResponse(res: SimResponse): Promise<void> {
  await sleep(30);
  if ('stream' in res && res.stream) res.stream.close(h2constants.NGHTTP2_INTERNAL_ERROR);
  else (res as ServerResponse).destroy();
}

export function resetRequest(req: SimRequest): void {
  if ('stream' in req && req.stream) req.stream.close(h2constants.NGHTTP2_REFUSED_STREAM);
  else (req as IncomingMessage).socket.destroy();
}

function readRaw(req: SimRequest): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The options every cloud simulator's start function takes. */
export interface CloudSimStartOptions {
  readonly port?: number;
  readonly host?: string;
  readonly latencyMs?: number;
  readonly tokensPerSecond?: number;
  /** The cloud name in scripted replies ("Simulated reply from <cloud>/…"). */
  readonly cloud?: string;
  readonly apiKey?: string;
  readonly clock?: Clock;
}

/** The fault a simulator applies: to every request until cleared, or to the next `count`. */
export class FaultSlot {
  #fault: (Fault & { left: number }) | null = null;
  set(f: Fault | null): void {
    this.#fault = f ? { ...f, left: f.count ?? Number.POSITIVE_INFINITY } : null;
  }
  take(): Fault | null {
    const f = this.#fault;
    if (f && f.count !== undefined && --f.left <= 0) this.#fault = null;
    return f;
  }
}

/** How one cloud says "throttled", "failed" and "overloaded". */
export interface FaultReplies {
  rateLimited(retryAfterS: number): void;
  serverError(): void;
  unavailable(): void;
}

/**
 * Applies the request-level faults (reset, hang, 429, 500, 503) in the cloud's own words; true
 * when the fault answered the request. Stream faults (cut, stream_error) are the caller's.
 */
export function answerFault(ctx: RequestContext, f: Fault | null, replies: FaultReplies): boolean {
  switch (f?.kind) {
    case 'reset':
      resetRequest(ctx.req);
      return true;
    case 'hang':
      return true;
    case 'rate_limit':
      replies.rateLimited(f.retryAfterS ?? 1);
      return true;
    case 'server_error':
      replies.serverError();
      return true;
    case 'unavailable':
      replies.unavailable();
      return true;
    default:
      return false;
  }
}

export interface CloudSimOptions extends CloudSimStartOptions {
  readonly kind: string;
  readonly recordLimit?: number;
  /** Handles one API request; control routes are handled before it. */
  readonly handle: (ctx: RequestContext) => Promise<void>;
}

export function startCloudSim(opts: CloudSimOptions): Promise<CloudSimulator> {
  const settings: SimSettings = {
    latencyMs: opts.latencyMs ?? 0,
    tokensPerSecond: opts.tokensPerSecond ?? 0,
    ...(opts.apiKey ? { apiKey: opts.apiKey } : {}),
  };
  const requests: RecordedRequest[] = [];
  const recordLimit = opts.recordLimit ?? 1000;
  const fault = new FaultSlot();
  const sockets = new Set<Socket>();

  const onRequest = async (req: SimRequest, res: SimResponse) => {
    const url = new URL(req.url ?? '/', 'http://sim');
    try {
      const raw = await readRaw(req);
      if (url.pathname === '/_sim/fault' && req.method === 'POST') {
        fault.set(JSON.parse(raw.toString('utf8') || 'null') as Fault | null);
        return sendJson(res, 200, { ok: true });
      }
      if (url.pathname === '/_sim/settings' && req.method === 'POST') {
        Object.assign(settings, JSON.parse(raw.toString('utf8')) as Partial<SimSettings>);
        return sendJson(res, 200, settings);
      }
      if (url.pathname === '/_sim/requests') return sendJson(res, 200, { count: requests.length, requests });
      await opts.handle({
        req,
        res,
        url,
        raw,
        takeFault: () => fault.take(),
        clock: opts.clock ?? systemClock,
        settings,
        record(body, deployment) {
          const r = {
            method: req.method ?? '',
            url: req.url ?? '',
            headers: { ...req.headers },
            body,
            deployment,
          };
          if (requests.length >= recordLimit) requests.shift();
          requests.push(r);
          return r;
        },
      });
    } catch (err) {
      if (!res.headersSent) sendJson(res, 500, { message: `simulator bug: ${(err as Error).message}` });
      else void cutResponse(res);
    }
  };

  const h1 = createHttpServer((req, res) => void onRequest(req, res));
  h1.keepAliveTimeout = 60_000;
  const h2 = createH2Server((req, res) => void onRequest(req, res));
  h2.on('sessionError', () => {});
  // One port, both protocols: HTTP/2 with prior knowledge starts with the connection preface.
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.once('data', (first: Buffer) => {
      socket.pause();
      if (first.subarray(0, 3).toString('latin1') !== 'PRI') {
        socket.unshift(first);
        h1.emit('connection', socket);
        socket.resume();
        return;
      }
      // The HTTP/2 session reads from the socket's native handle and would miss the bytes
      // already read here, so it is given a JS stream that replays them first.
      const duplex = new Duplex({
        read() {
          socket.resume();
        },
        write(chunk: Buffer, _enc, cb) {
          socket.write(chunk, cb);
        },
        final(cb) {
          socket.end(cb);
        },
        destroy(err, cb) {
          socket.destroy();
          cb(err);
        },
      });
      duplex.push(first);
      socket.on('data', (d: Buffer) => {
        if (!duplex.push(d)) socket.pause();
      });
      socket.on('end', () => duplex.push(null));
      socket.on('close', () => duplex.destroy());
      h2.emit('connection', duplex);
    });
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        kind: opts.kind,
        url: `http://${opts.host ?? '127.0.0.1'}:${port}`,
        settings,
        requests,
        setFault: (f) => fault.set(f),
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            h1.close();
            h2.close();
            server.close(() => r());
          }),
      });
    });
  });
}

/** Streams out one piece per token at the simulator's token rate; false when the client left. */
export async function pace(settings: SimSettings, res: SimResponse): Promise<boolean> {
  if (settings.tokensPerSecond > 0) await sleep(1000 / settings.tokensPerSecond);
  return !(res as ServerResponse).destroyed && !res.writableEnded;
}
