// Structured JSON logs, one object a line, to stdout. Keys, prompts and completions never go in
// (the access log carries a prompt only when observability.logPrompts is set). Lines are buffered
// and written every 50 ms (or at 256 KiB), so a line per request does not cost a write(2) per
// request; whatever is buffered is written synchronously when the process exits.
import { writeSync } from 'node:fs';

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

/** A stdout writer that batches lines within one event-loop turn. */
export function bufferedStdout(): (line: string) => void {
  let buf = '';
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (!buf) return;
    const out = buf;
    buf = '';
    process.stdout.write(out);
  };
  process.once('exit', () => {
    if (buf) writeSync(1, buf);
    buf = '';
  });
  return (line) => {
    buf += line;
    if (buf.length > MAX_BUFFER_BYTES) flush();
    else if (!scheduled) {
      scheduled = true;
      setTimeout(flush, FLUSH_MS).unref();
    }
  };
}

export function createLogger(
  level: LogLevel = 'info',
  write: (line: string) => void = (l) => process.stdout.write(l),
): Logger {
  const min = order[level];
  const emit = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (order[lvl] < min) return;
    write(`${JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...fields })}\n`);
  };
  const infoOn = order.info >= min;
  // The timestamp string changes once a millisecond; formatting it is a visible part of a line.
  let lastMs = -1;
  let lastIso = '';
  const iso = () => {
    const now = Date.now();
    if (now !== lastMs) {
      lastMs = now;
      lastIso = new Date(now).toISOString();
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
