// The usage log writer: records are queued on the request path (an array push) and written in
// batches off it. A failed write keeps the batch and retries; close() drains everything, so a
// graceful shutdown loses nothing. Appends are idempotent by request id, so a retry after a
// write whose acknowledgement was lost cannot count a record twice.
import { setTimeout as sleep } from 'node:timers/promises';
import { type Clock, systemClock, type Timer } from '../clock/index.js';
import { EntenteError } from '../errors/index.js';
import type { Store, UsageRecord } from '../store/index.js';

export interface UsageLogOptions {
  readonly batchSize: number;
  readonly flushIntervalMs: number;
  readonly onError?: (err: unknown) => void;
  /** Called with each batch once it is stored (metering posts it from memory, no re-read). */
  readonly onWritten?: (records: readonly UsageRecord[]) => void;
  /** Drives the flush timer and the shutdown deadline; the system clock when absent. */
  readonly clock?: Clock;
}

export class UsageLog {
  #queue: UsageRecord[] = [];
  #timer: Timer | null = null;
  #flushing: Promise<void> | null = null;
  #written = 0;
  #failures = 0;

  readonly #clock: Clock;

  constructor(
    readonly store: Store,
    readonly opts: UsageLogOptions,
  ) {
    this.#clock = opts.clock ?? systemClock;
  }

  #arm(ms: number): void {
    if (this.#timer) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = null;
      void this.flush();
    }, ms);
  }

  get pending(): number {
    return this.#queue.length;
  }
  get written(): number {
    return this.#written;
  }
  get failures(): number {
    return this.#failures;
  }

  append(record: UsageRecord): void {
    this.#queue.push(record);
    if (this.#queue.length >= this.opts.batchSize) void this.flush();
    else this.#arm(this.opts.flushIntervalMs);
  }

  /** Writes everything queued so far; resolves when it is stored (or the write failed and was requeued). */
  flush(): Promise<void> {
    if (this.#flushing) return this.#flushing.then(() => (this.#queue.length ? this.flush() : undefined));
    if (this.#queue.length === 0) return Promise.resolve();
    const batch = this.#queue;
    this.#queue = [];
    this.#flushing = this.store
      .appendUsage(batch)
      .then(
        () => {
          this.#written += batch.length;
          this.opts.onWritten?.(batch);
        },
        (err: unknown) => {
          this.#failures++;
          this.#queue = batch.concat(this.#queue);
          this.opts.onError?.(err);
          this.#arm(Math.max(this.opts.flushIntervalMs, 1000));
        },
      )
      .finally(() => {
        this.#flushing = null;
      });
    return this.#flushing;
  }

  /** Drains the queue, retrying failed writes until `deadlineMs` passes. */
  async close(deadlineMs = 30_000): Promise<void> {
    const until = this.#clock.now() + deadlineMs;
    this.#timer?.cancel();
    this.#timer = null;
    while (this.#queue.length > 0 || this.#flushing) {
      await this.flush();
      if (this.#queue.length > 0) {
        if (this.#clock.now() > until)
          throw new EntenteError(
            'usage_log_unwritten',
            `usage log: ${this.#queue.length} records could not be written before shutdown`,
          );
        // A pause between retries against a failing store; real time, whatever the clock.
        await sleep(200);
      }
    }
    (this.#timer as Timer | null)?.cancel();
    this.#timer = null;
  }
}
