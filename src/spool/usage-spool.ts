// The usage spool, serving-thread side. When a request finishes, its usage record is appended to
// the current spool segment before the answer's last byte is sent, so a crash of the process
// (SIGKILL included) cannot lose the record of an answer a client has completely. The records of
// the requests that finish in one event-loop turn go to the kernel in one write(2), at the end of
// the turn, and only then are their answers completed.
// A writer thread (spool-worker.ts) fsyncs the spool in group commits, stores the records in the
// database in batches and posts them to the ledger, so the event loop never waits on storage.
// On start the writer first recovers what an earlier process left (idempotent by request id).
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { EntenteError } from '../errors/index.js';
import type { LedgerSetup } from '../ledger/index.js';
import type { Logger } from '../observability/index.js';
import type { UsageRecord } from '../store/index.js';
import { encodeLine, segmentName } from './format.js';
import type { FromWorker, ToWorker, WorkerInit } from './messages.js';
import { PublishedPosition } from './published.js';

const LOCK = 'LOCK';

/** What a request does once its usage record is in the spool (true), or could not be (false). */
export type Written = (ok: boolean) => void;

/** How many of `lines` the first `bytes` bytes of their concatenation hold whole. */
function wholeLines(lines: readonly string[], bytes: number): number {
  let n = 0;
  for (const line of lines) {
    bytes -= Buffer.byteLength(line);
    if (bytes < 0) break;
    n++;
  }
  return n;
}

/**
 * One process per spool folder: a second one would recover (and delete) the first one's live
 * segment. The lock file names its owner's pid; a lock whose owner is gone (killed) is taken over.
 */
function takeLock(dir: string): void {
  const file = join(dir, LOCK);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number(readFileSync(file, 'utf8'));
    if (owner && alive(owner))
      throw new EntenteError(
        'spool_locked',
        `the usage spool ${dir} is in use by process ${owner}; each gateway node needs its own data folder`,
      );
    rmSync(file, { force: true });
  }
  throw new EntenteError('spool_locked', `could not lock the usage spool ${dir}`);
}

/** The live process holding the spool folder, or null when none does. */
export function spoolOwner(dir: string): number | null {
  let owner: number;
  try {
    owner = Number(readFileSync(join(dir, LOCK), 'utf8'));
  } catch {
    return null;
  }
  return owner && alive(owner) ? owner : null;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The writer thread's nice value a config asks for: usage.writerNice, else 5, or 0 with durability
 * `os`, where each answer waits for the writer's group commit.
 */
export function writerNiceOf(usage: {
  readonly writerNice?: number;
  readonly durability: 'process' | 'os';
}): number {
  return usage.writerNice ?? (usage.durability === 'os' ? 0 : 5);
}

/** The writer thread's settings, and what the serving side decides itself. */
export interface SpoolOptions extends Omit<WorkerInit, 'position' | 'reportFsynced'> {
  readonly durability: 'process' | 'os';
  readonly maxBacklogRecords: number;
  readonly segmentBytes: number;
  readonly log: Logger;
  /** The write(2) of a turn's lines; tests replace it to fail one. */
  readonly writeLines?: (fd: number, text: string) => number;
}

export interface SpoolStats {
  /** Records appended but not yet stored in the database. */
  readonly pending: number;
  /** Records stored by this process's writer (its own and those it recovered). */
  readonly written: number;
  /** Usage records posted to the ledger by this process's writer. */
  readonly posted: number;
  /** Records recovered from the spool at start that the database did not have. */
  readonly recovered: number;
  /** Failed store or posting attempts (each retried). */
  readonly failures: number;
}

export class UsageSpool implements SpoolStats {
  readonly #opts: SpoolOptions;
  readonly #worker: Worker;
  readonly #position: PublishedPosition;
  #fd = -1;
  /** The index of the segment being written (its file is segmentName(index)). */
  #index = 0;
  #bytes = 0;
  #seq = 0;
  #storedSeq = 0;
  /** This turn's lines, not written yet, and what each one's request does once it is. */
  #lines: string[] = [];
  #then: (Written | null)[] = [];
  #turnEnd: NodeJS.Immediate | null = null;
  #nextFlush = 1;
  readonly #flushes = new Map<number, () => void>();
  readonly #durable: { seq: number; resolve: () => void }[] = [];
  /** Who waits for the writer's next failure (postedOrFailing). */
  readonly #failureWaits = new Set<(message: string) => void>();
  #closed: (() => void) | null = null;
  written = 0;
  posted = 0;
  recovered = 0;
  failures = 0;

  private constructor(opts: SpoolOptions, worker: Worker, position: PublishedPosition) {
    this.#opts = opts;
    this.#worker = worker;
    this.#position = position;
  }

  /** Starts the writer, waits for it to recover what an earlier process left, opens a segment. */
  static async open(opts: SpoolOptions): Promise<UsageSpool> {
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    takeLock(opts.dir);
    // libuv starts its thread pool on first use, and new threads take the nice value of the thread
    // that starts them: started from here, the pool that serves this thread's file system, DNS and
    // crypto work keeps this thread's priority, not the writer's (usage.writerNice).
    await access(opts.dir);
    // The worker gets only its own settings (the logger, a function, cannot cross threads).
    const {
      durability: _d,
      maxBacklogRecords: _m,
      segmentBytes: _s,
      log: _l,
      writeLines: _w,
      ...settings
    } = opts;
    const position = new PublishedPosition();
    const init: WorkerInit = {
      ...settings,
      reportFsynced: opts.durability === 'os',
      position: position.buffer,
    };
    const worker = new Worker(new URL('./spool-worker.js', import.meta.url), { workerData: init });
    const spool = new UsageSpool(opts, worker, position);
    const ready = await new Promise<Extract<FromWorker, { type: 'ready' }>>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      worker.once('error', onError);
      worker.on('message', function first(m: FromWorker) {
        if (m.type !== 'ready') return;
        worker.off('message', first);
        worker.off('error', onError);
        resolve(m);
      });
    });
    spool.recovered = ready.added;
    if (ready.recovered > 0 || ready.corrupt > 0)
      opts.log.warn('usage spool recovered records left by an earlier process', {
        spooled: ready.recovered,
        recovered: ready.added,
        corruptLines: ready.corrupt,
      });
    worker.on('message', (m: FromWorker) => spool.#onMessage(m));
    worker.on('error', (err) => opts.log.error('usage spool writer failed', { error: err.message }));
    // The writer thread is part of the process: if it dies, so does the gateway (crash-only). The
    // spool on disk holds every record, and the next start recovers them all.
    worker.on('exit', (code) => {
      if (spool.#closed !== null) return;
      opts.log.error('usage spool writer stopped; exiting so that a restart recovers the spool', { code });
      process.exit(70);
    });
    spool.#openSegment(ready.nextIndex);
    return spool;
  }

  get pending(): number {
    return this.#seq + this.#lines.length - this.#storedSeq;
  }
  /** Past the backlog limit: new requests are refused (503) rather than records risked. */
  get full(): boolean {
    return this.pending >= this.#opts.maxBacklogRecords;
  }

  /**
   * Appends the record. It is written to the kernel at the end of this event-loop turn, with every
   * other record appended in the turn (one write(2)); then `then(true)` runs, or with
   * `durability: os`, once a group commit has fsync'd it. When the write fails, `then(false)`
   * runs at once: the record is not in the spool, and its answer must not be completed.
   */
  append(record: UsageRecord, then: Written | null = null): void {
    if (this.#fd < 0) throw new EntenteError('usage_log_unwritten', 'the usage spool is closed');
    this.#lines.push(encodeLine(record));
    this.#then.push(then);
    this.#turnEnd ??= setImmediate(this.#writeTurn);
  }

  /** Writes this turn's lines in one write, publishes the position, completes their requests. */
  readonly #writeTurn = (): void => {
    if (this.#turnEnd !== null) clearImmediate(this.#turnEnd);
    this.#turnEnd = null;
    const lines = this.#lines;
    const then = this.#then;
    if (lines.length === 0) return;
    this.#lines = [];
    this.#then = [];
    const text = lines.length === 1 ? lines[0]! : lines.join('');
    let written = 0;
    try {
      written = (this.#opts.writeLines ?? writeSync)(this.#fd, text);
    } catch (err) {
      this.#opts.log.error('usage spool: writing records failed; their answers are not completed', {
        error: (err as Error).message,
        records: lines.length,
      });
    }
    const whole = written === Buffer.byteLength(text) ? lines.length : wholeLines(lines, written);
    this.#bytes += written;
    this.#seq += whole;
    // What was written of a line the spool could not finish is a torn line: the segment is
    // sealed behind it (the writer drops it), and the next records start a new one.
    if (whole < lines.length && written > 0) this.#rotate();
    if (this.#bytes >= this.#opts.segmentBytes) this.#rotate();
    else this.#position.publish(this.#index, this.#bytes, this.#seq);
    const os = this.#opts.durability === 'os';
    for (let i = 0; i < lines.length; i++) {
      const t = then[i];
      if (!t) continue;
      if (os && i < whole)
        this.#durable.push({ seq: this.#seq - whole + 1 + i, resolve: () => this.#complete(t, true) });
      else this.#complete(t, i < whole);
    }
  };

  /**
   * Resolves once every record appended so far is stored, and posted to the ledger unless its
   * posting failed (it is then stored pending, and a later scan posts it). With `posted`, it waits
   * for those too: what reads the ledger as the truth (the limiter seeding its budget counters)
   * must not miss a record that is only pending.
   */
  flush(opts: { readonly posted?: boolean } = {}): Promise<void> {
    this.#writeTurn();
    const posted = opts.posted === true;
    if (this.#storedSeq >= this.#seq && !posted) return Promise.resolve();
    const id = this.#nextFlush++;
    return new Promise((resolve) => {
      this.#flushes.set(id, resolve);
      this.#post({ type: 'flush', id, seq: this.#seq, posted });
    });
  }

  /**
   * A posted flush that gives up at the writer's first failure report: null once every record
   * appended so far is stored and posted, else the failure's message. A writer that is only slow
   * is waited for; one whose storing or posting fails (the database down, a record the ledger
   * refuses) is not, for a posting that keeps failing would keep its caller waiting for ever.
   */
  postedOrFailing(): Promise<string | null> {
    let waiting!: (message: string) => void;
    const failed = new Promise<string>((resolve) => {
      waiting = resolve;
      this.#failureWaits.add(resolve);
    });
    return Promise.race([this.flush({ posted: true }).then(() => null), failed]).finally(() =>
      this.#failureWaits.delete(waiting),
    );
  }

  setLedger(setup: LedgerSetup | null): void {
    this.#post({ type: 'setup', setup });
  }

  /**
   * Stores and posts everything appended, closes the segment, stops the writer. When the database
   * does not take the records within `deadlineMs` (it is down or frozen), the writer is stopped
   * anyway: the records stay in the spool, and the next start recovers them.
   */
  async close(deadlineMs = 30_000): Promise<void> {
    if (this.#fd < 0) return;
    this.#writeTurn();
    closeSync(this.#fd);
    this.#fd = -1;
    this.#post({ type: 'sealed', index: this.#index, bytes: this.#bytes, seq: this.#seq });
    let timer: NodeJS.Timeout | undefined;
    const stored = await Promise.race([
      new Promise<boolean>((resolve) => {
        this.#closed = () => resolve(true);
        this.#post({ type: 'close', seq: this.#seq });
      }),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), deadlineMs);
      }),
    ]);
    clearTimeout(timer);
    if (!stored)
      this.#opts.log.warn(
        'usage spool: the database did not take every record before shutdown; they stay in the spool for the next start',
        {
          pending: this.pending,
        },
      );
    await this.#worker.terminate();
    rmSync(join(this.#opts.dir, LOCK), { force: true });
  }

  /** One request's completion must not keep the others of its turn from theirs. */
  #complete(then: Written, ok: boolean): void {
    try {
      then(ok);
    } catch (err) {
      this.#opts.log.error('usage spool: completing a request failed', { error: (err as Error).message });
    }
  }

  #post(m: ToWorker): void {
    this.#worker.postMessage(m);
  }

  #openSegment(index: number): void {
    this.#index = index;
    this.#fd = openSync(join(this.#opts.dir, segmentName(index)), 'a', 0o600);
    this.#bytes = 0;
    this.#position.publish(index, 0, this.#seq);
  }

  /** The sealed segment's end goes by message, before the next segment's first publication. */
  #rotate(): void {
    closeSync(this.#fd);
    this.#post({ type: 'sealed', index: this.#index, bytes: this.#bytes, seq: this.#seq });
    this.#openSegment(this.#index + 1);
  }

  #onMessage(m: FromWorker): void {
    switch (m.type) {
      case 'fsynced':
        while (this.#durable.length > 0 && this.#durable[0]!.seq <= m.seq) this.#durable.shift()!.resolve();
        return;
      case 'stored':
        this.#storedSeq = m.seq;
        this.written = m.stored;
        this.posted = m.posted;
        return;
      case 'flushed':
        this.#flushes.get(m.id)?.();
        this.#flushes.delete(m.id);
        return;
      case 'error':
        this.failures++;
        this.#opts.log.error('usage spool writer', { error: m.message });
        for (const w of this.#failureWaits) w(m.message);
        return;
      case 'warn':
        this.#opts.log.warn(m.message, { count: m.count });
        return;
      case 'closed':
        this.#closed?.();
        return;
      case 'ready':
        return;
    }
  }
}
