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
const BLOCK_BYTES = 64 * 1024;

/**
 * Lines encoded to UTF-8 as they come, into blocks of a fixed size. Keeping them as one string
 * until the flush made the flush flatten a rope of hundreds of lines, measure its UTF-8 length and
 * encode it: about 1.8 µs a line more than encoding each line into a block at once (perf: 2.4% of
 * the serving thread at saturation, the access log's line per request).
 */
export class LineBlocks {
  readonly #blockBytes: number;
  #block: Buffer;
  #used = 0;
  /** Blocks filled (or lines too long for one), in order. */
  readonly #full: Buffer[] = [];
  #fullBytes = 0;

  constructor(blockBytes = BLOCK_BYTES) {
    this.#blockBytes = blockBytes;
    this.#block = Buffer.allocUnsafe(blockBytes);
  }

  /** Bytes held. */
  get bytes(): number {
    return this.#fullBytes + this.#used;
  }

  add(line: string): void {
    // A UTF-16 code unit is at most 3 bytes of UTF-8: a line that might not fit starts a block,
    // and one that might not fit a whole block is encoded on its own.
    if (this.#used + line.length * 3 > this.#blockBytes) {
      this.#seal();
      if (line.length * 3 > this.#blockBytes) {
        const own = Buffer.from(line);
        this.#full.push(own);
        this.#fullBytes += own.length;
        return;
      }
    }
    this.#used += this.#block.write(line, this.#used);
  }

  /** Everything held, in order, and nothing held after. */
  take(): Buffer[] {
    this.#seal();
    const out = this.#full.splice(0);
    this.#fullBytes = 0;
    return out;
  }

  #seal(): void {
    if (this.#used === 0) return;
    this.#full.push(this.#block.subarray(0, this.#used));
    this.#fullBytes += this.#used;
    this.#block = Buffer.allocUnsafe(this.#blockBytes);
    this.#used = 0;
  }
}

/**
 * A stdout writer that batches lines and writes them off the event loop. Node writes
 * process.stdout to a pipe synchronously, so a slow log reader would stall every request; here the
 * batch goes out with fs.write on the thread pool, one write in flight at a time, and whatever is
 * still buffered is written synchronously when the process exits.
 */
export function bufferedStdout(fd = 1, blockBytes = BLOCK_BYTES): (line: string) => void {
  const lines = new LineBlocks(blockBytes);
  let scheduled = false;
  let writing = false;
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setTimeout(flush, FLUSH_MS).unref();
  };
  const flush = () => {
    scheduled = false;
    if (lines.bytes === 0 || writing) return;
    const taken = lines.take();
    const out = taken.length === 1 ? taken[0]! : Buffer.concat(taken);
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
      if (lines.bytes > 0) schedule();
    };
    write(fd, out, 0, out.length, null, (err, n) => done(err, n));
  };
  process.once('exit', () => {
    try {
      for (const b of lines.take()) writeSync(fd, b);
    } catch {
      // stdout is gone: nothing left to tell
    }
  });
  let dropped = 0;
  return (line) => {
    // A reader that stopped reading must not grow this process without bound.
    if (lines.bytes > MAX_PENDING_BYTES) {
      dropped++;
      return;
    }
    if (dropped > 0) {
      lines.add(
        `{"time":"${new Date(systemClock.now()).toISOString()}","level":"warn","msg":"log lines dropped: stdout is not being read","dropped":${dropped}}\n`,
      );
      dropped = 0;
    }
    lines.add(line);
    if (lines.bytes > MAX_BUFFER_BYTES && !writing) flush();
    else schedule();
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
