// Metering off the request path. Each batch the usage log stores is posted to the ledger straight
// from memory; every interval a scan posts whatever is still pending (a failed post, or records
// written by another node). Work runs one piece at a time. Posting is idempotent, so several
// gateway nodes may meter one shared store.
import { type Clock, systemClock, type Timer } from '../clock/index.js';
import type { Logger } from '../observability/index.js';
import type { Store, UsageRecord } from '../store/index.js';
import { type LedgerSetup, postUsage } from './post-usage.js';

const BATCH = 500;

export class Meter {
  #timer: Timer | null;
  #chain: Promise<void> = Promise.resolve();
  #scanQueued = false;
  posted = 0;

  constructor(
    readonly store: Store,
    readonly setup: () => LedgerSetup,
    intervalMs: number,
    readonly log: Logger,
    clock: Clock = systemClock,
  ) {
    this.#timer = clock.setInterval(() => void this.runOnce(), intervalMs);
  }

  #enqueue(work: () => Promise<void>): Promise<void> {
    this.#chain = this.#chain.then(work).catch((err: unknown) => {
      this.log.error('metering failed; the records stay pending for the next scan', {
        error: (err as Error).message,
      });
    });
    return this.#chain;
  }

  async #post(records: readonly UsageRecord[]): Promise<void> {
    const r = await postUsage(this.store, records, this.setup());
    this.posted += r.posted;
    if (r.unpriced > 0) this.log.warn('usage of unpriced models flagged, not billed', { count: r.unpriced });
  }

  /** Posts a batch the usage log has just stored. */
  postWritten(records: readonly UsageRecord[]): void {
    void this.#enqueue(() => this.#post(records));
  }

  /** Posts everything pending in the store; a scan already queued is not queued twice. */
  runOnce(): Promise<void> {
    if (this.#scanQueued) return this.#chain;
    this.#scanQueued = true;
    return this.#enqueue(async () => {
      this.#scanQueued = false;
      for (;;) {
        const batch = await this.store.pendingUsage(BATCH);
        if (batch.length > 0) await this.#post(batch);
        if (batch.length < BATCH) break;
      }
    });
  }

  async stop(): Promise<void> {
    this.#timer?.cancel();
    this.#timer = null;
    await this.runOnce();
  }
}
