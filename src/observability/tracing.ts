// OpenTelemetry traces: a span for each request (the gateway), its route decision, and each
// upstream attempt, exported as OTLP/HTTP JSON (https://opentelemetry.io/docs/specs/otlp/) when an
// endpoint is configured. Off by default, and free when off: the no-op tracer hands out one
// shared span object and allocates nothing. Attribute names follow the OpenTelemetry HTTP and
// GenAI semantic conventions (gen_ai.*) where they apply. An incoming W3C `traceparent` header
// makes the request's span a child of the caller's.
import { randomBytes } from 'node:crypto';
import { Pool } from 'undici';
import { systemClock } from '../clock/index.js';
import type { Logger } from './logger.js';

export type SpanKind = 'server' | 'client' | 'internal';
type AttrValue = string | number | boolean;

export interface Span {
  readonly traceId: string;
  readonly spanId: string;
  set(key: string, value: AttrValue | null | undefined): Span;
  /** Marks the span failed (OTLP status code 2) with a message. */
  fail(message: string): Span;
  end(): void;
}

export interface Tracer {
  readonly enabled: boolean;
  start(name: string, kind: SpanKind, parent?: Span | { traceId: string; spanId: string } | null): Span;
  /** Sends what is buffered; resolves when the collector answered (or gave up). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

const NOOP_SPAN: Span = Object.freeze({
  traceId: '',
  spanId: '',
  set: () => NOOP_SPAN,
  fail: () => NOOP_SPAN,
  end() {},
});

export const noopTracer: Tracer = Object.freeze({
  enabled: false,
  start: () => NOOP_SPAN,
  flush: async () => {},
  close: async () => {},
});

/** W3C traceparent: 00-<32 hex trace id>-<16 hex span id>-<flags>. */
export function parseTraceparent(
  h: string | string[] | undefined,
): { traceId: string; spanId: string } | null {
  const v = Array.isArray(h) ? h[0] : h;
  const m = v ? /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/.exec(v.trim()) : null;
  if (!m || /^0+$/.test(m[1]!) || /^0+$/.test(m[2]!)) return null;
  return { traceId: m[1]!, spanId: m[2]! };
}

const KIND: Record<SpanKind, number> = { internal: 1, server: 2, client: 3 };

interface Finished {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: Record<string, AttrValue> }[];
  status: { code: number; message?: string };
}

/** Nanoseconds since the epoch as a decimal string, from a high-resolution clock. */
const origin = BigInt(systemClock.now()) * 1_000_000n - process.hrtime.bigint();
const nowNanos = () => (origin + process.hrtime.bigint()).toString();

function attr(key: string, v: AttrValue): { key: string; value: Record<string, AttrValue> } {
  if (typeof v === 'string') return { key, value: { stringValue: v } };
  if (typeof v === 'boolean') return { key, value: { boolValue: v } };
  return Number.isInteger(v) ? { key, value: { intValue: v } } : { key, value: { doubleValue: v } };
}

export interface OtlpOptions {
  /** The collector's base URL; spans go to <endpoint>/v1/traces. */
  readonly endpoint: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly serviceName: string;
  readonly flushIntervalMs: number;
  readonly maxBatch: number;
  /** Spans kept while the collector is unreachable; beyond it the oldest are dropped (and counted). */
  readonly maxQueue: number;
}

export function createOtlpTracer(opts: OtlpOptions, log: Logger): Tracer {
  const url = new URL(`${opts.endpoint.replace(/\/+$/, '')}/v1/traces`);
  const pool = new Pool(url.origin, { connections: 2 });
  let queue: Finished[] = [];
  let dropped = 0;
  let sending: Promise<void> | null = null;
  const resource = {
    attributes: [attr('service.name', opts.serviceName), attr('telemetry.sdk.name', 'entente')],
  };

  const send = async (): Promise<void> => {
    while (queue.length > 0) {
      const batch = queue.slice(0, opts.maxBatch);
      queue = queue.slice(batch.length);
      const body = JSON.stringify({
        resourceSpans: [{ resource, scopeSpans: [{ scope: { name: 'entente' }, spans: batch }] }],
      });
      try {
        const r = await pool.request({
          method: 'POST',
          path: url.pathname + url.search,
          headers: { 'content-type': 'application/json', ...(opts.headers ?? {}) },
          body,
          headersTimeout: 10_000,
          bodyTimeout: 10_000,
        });
        await r.body.dump();
        if (r.statusCode >= 300)
          log.warn('otlp export refused', { status: r.statusCode, spans: batch.length });
      } catch (err) {
        log.warn('otlp export failed', { error: (err as Error).message, spans: batch.length });
        return; // keep what is left for the next tick
      }
    }
  };
  const flush = (): Promise<void> => {
    if (!sending) sending = send().finally(() => (sending = null));
    return sending;
  };
  const timer = setInterval(() => void flush(), opts.flushIntervalMs);
  timer.unref();

  const finish = (f: Finished) => {
    queue.push(f);
    if (queue.length > opts.maxQueue) {
      dropped += queue.length - opts.maxQueue;
      queue.splice(0, queue.length - opts.maxQueue);
      if (dropped % 1000 === 1) log.warn('otlp queue full: spans dropped', { dropped });
    }
    if (queue.length >= opts.maxBatch) void flush();
  };

  return {
    enabled: true,
    start(name, kind, parent) {
      const traceId = parent?.traceId || randomBytes(16).toString('hex');
      const spanId = randomBytes(8).toString('hex');
      const attributes: Finished['attributes'] = [];
      const status: Finished['status'] = { code: 0 };
      const start = nowNanos();
      let ended = false;
      const span: Span = {
        traceId,
        spanId,
        set(key, value) {
          if (value !== null && value !== undefined) attributes.push(attr(key, value));
          return span;
        },
        fail(message) {
          status.code = 2;
          status.message = message;
          return span;
        },
        end() {
          if (ended) return;
          ended = true;
          finish({
            traceId,
            spanId,
            parentSpanId: parent?.spanId ?? '',
            name,
            kind: KIND[kind],
            startTimeUnixNano: start,
            endTimeUnixNano: nowNanos(),
            attributes,
            status,
          });
        },
      };
      return span;
    },
    flush,
    async close() {
      clearInterval(timer);
      await flush();
      await pool.close();
    },
  };
}
