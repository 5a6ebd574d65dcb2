// Structured JSON logs, one object a line, to stdout. Keys, prompts and completions never go in
// (the access log carries a prompt only when observability.logPrompts is set). Lines are buffered
// and written every 50 ms (or at 256 KiB) off the event loop, so a line per request costs neither
// a write(2) per request nor a stall when the log reader is slow.
import { write, writeSync } from 'node:fs';
import { systemClock } from '../clock/index.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /**
   * An info line whose fields are already serialised (`"a":1,"b":"x"`), for per-request lines;
   * `msg` must need no JSON escaping.
   */
  infoFields(msg: string, fields: string): void;
}

const MAX_BUFFER_BYTES = 256 * 1024;
const FLUSH_MS = 50;
const MAX_PENDING_BYTES = 16 * 1_048_576;

/**
 * A stdout writer that batches lines and writes them off the event loop. Node writes
 * process.stdout to a pipe synchronously, so a slow log reader would stall every request; here the
 * batch goes out with fs.write on the thread pool, one write in flight at a time, and whatever is
 * still buffered is written synchronously when the process exits.
 */
export function bufferedStdout(fd = 1): (line: string) => void {
  let buf = '';
  let scheduled = false;
  let writing = false;
  const flush = () => {
    scheduled = false;
    if (!buf || writing) return;
    const out = Buffer.from(buf);
    buf = '';
    writing = true;
    const done = (err: NodeJS.ErrnoException | null, n = 0) => {
      // EAGAIN on a non-blocking pipe: keep the bytes and try again on the next flush.
      if (err && err.code !== 'EAGAIN') {
        writing = false;
        return;
      }
      if (n < out.length) {
        const rest = out.subarray(n);
        setTimeout(
          () => write(fd, rest, 0, rest.length, null, (e, m) => done(e, m === undefined ? n : m + n)),
          err ? 10 : 0,
        ).unref();
        return;
      }
      writing = false;
      if (buf && !scheduled) {
        scheduled = true;
        setTimeout(flush, FLUSH_MS).unref();
      }
    };
    write(fd, out, 0, out.length, null, (err, n) => done(err, n));
  };
  process.once('exit', () => {
    if (buf) {
      try {
        writeSync(fd, buf);
      } catch {
        // stdout is gone: nothing left to tell
      }
    }
    buf = '';
  });
  let dropped = 0;
  return (line) => {
    // A reader that stopped reading must not grow this process without bound.
    if (buf.length > MAX_PENDING_BYTES) {
      dropped++;
      return;
    }
    if (dropped > 0) {
      buf += `{"time":"${new Date(systemClock.now()).toISOString()}","level":"warn","msg":"log lines dropped: stdout is not being read","dropped":${dropped}}\n`;
      dropped = 0;
    }
    buf += line;
    if (buf.length > MAX_BUFFER_BYTES && !writing) flush();
    else if (!scheduled) {
      scheduled = true;
      setTimeout(flush, FLUSH_MS).unref();
    }
  };
}

const MILLIS: readonly string[] = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
/** Ends in the year 9999: past it (or before 1970, or between milliseconds) toISOString's own. */
const LAST_PLAIN_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
let isoSecondMs = Number.NaN;
let isoSecond = '';

/**
 * `new Date(ms).toISOString()`, formatting the date and time once a second and the milliseconds
 * from a table: V8 formats a date through snprintf, about 7,000 instructions, which the access log
 * paid every millisecond (callgrind, bench/instructions-bench.ts).
 */
export function isoTimestamp(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms > LAST_PLAIN_MS) return new Date(ms).toISOString();
  const within = ms % 1000;
  const second = ms - within;
  if (second !== isoSecondMs) {
    isoSecond = new Date(second).toISOString().slice(0, 20); // YYYY-MM-DDTHH:MM:SS.
    isoSecondMs = second;
  }
  return `${isoSecond}${MILLIS[within]}Z`;
}

export function createLogger(
  level: LogLevel = 'info',
  write: (line: string) => void = (l) => process.stdout.write(l),
): Logger {
  const min = order[level];
  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (order[lvl] < min) return;
    write(`${JSON.stringify({ time: isoTimestamp(systemClock.now()), level: lvl, msg, ...fields })}\n`);
  };
  const infoOn = order.info >= min;
  // The timestamp string changes once a millisecond; formatting it is a visible part of a line.
  let lastMs = -1;
  let lastIso = '';
  const iso = () => {
    const now = systemClock.now();
    if (now !== lastMs) {
      lastMs = now;
      lastIso = isoTimestamp(now);
    }
    return lastIso;
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    infoFields: (m, f) => {
      if (infoOn) write(`{"time":"${iso()}","level":"info","msg":"${m}",${f}}\n`);
    },
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {}, infoFields() {} };
