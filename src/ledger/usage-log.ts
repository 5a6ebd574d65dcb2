// The usage log writer: records are queued on the request path (an array push) and written in
// batches off it. A failed write keeps the batch and retries; close() drains everything, so a
// graceful shutdown loses nothing. Appends are idempotent by request id, so a retry after a
// write whose acknowledgement was lost cannot count a record twice.
import type { Store, UsageRecord } from '../store/index.js';

export interface UsageLogOptions {
  readonly batchSize: number;
  readonly flushIntervalMs: number;
  readonly onError?: (err: unknown) => void;
  /** Called with each batch once it is stored (metering posts it from memory, no re-read). */
  readonly onWritten?: (records: readonly UsageRecord[]) => void;
}

export class UsageLog {
  #queue: UsageRecord[] = [];
  #timer: NodeJS.Timeout | null = null;
  #flushing: Promise<void> | null = null;
  #written = 0;
  #failures = 0;

  constructor(
    readonly store: Store,
    readonly opts: UsageLogOptions,
  ) {}

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
    else if (!this.#timer) {
      this.#timer = setTimeout(() => {
        this.#timer = null;
        void this.flush();
      }, this.opts.flushIntervalMs);
      this.#timer.unref();
    }
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
          if (!this.#timer) {
            this.#timer = setTimeout(
              () => {
                this.#timer = null;
                void this.flush();
              },
              Math.max(this.opts.flushIntervalMs, 1000),
            );
            this.#timer.unref();
          }
        },
      )
      .finally(() => {
        this.#flushing = null;
      });
    return this.#flushing;
  }

  /** Drains the queue, retrying failed writes until `deadlineMs` passes. */
  async close(deadlineMs = 30_000): Promise<void> {
    const until = Date.now() + deadlineMs;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    while (this.#queue.length > 0 || this.#flushing) {
      await this.flush();
      if (this.#queue.length > 0) {
        if (Date.now() > until)
          throw new Error(`usage log: ${this.#queue.length} records could not be written before shutdown`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    if (this.#timer) clearTimeout(this.#timer);
  }
}
