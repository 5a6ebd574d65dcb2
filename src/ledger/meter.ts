// Metering off the request path: every interval, pending usage records are posted to the ledger
// in batches. Posting is idempotent, so several gateway nodes may meter one shared store.
import type { Logger } from '../observability/index.js';
import type { Store } from '../store/index.js';
import { type LedgerSetup, postUsage } from './post-usage.js';

const BATCH = 500;

export class Meter {
  #timer: NodeJS.Timeout | null;
  #running: Promise<void> | null = null;
  posted = 0;

  constructor(
    readonly store: Store,
    readonly setup: () => LedgerSetup,
    intervalMs: number,
    readonly log: Logger,
  ) {
    this.#timer = setInterval(() => void this.runOnce(), intervalMs);
    this.#timer.unref();
  }

  /** Posts everything pending now; concurrent calls share one run. */
  runOnce(): Promise<void> {
    this.#running ??= (async () => {
      try {
        for (;;) {
          const batch = await this.store.pendingUsage(BATCH);
          if (batch.length === 0) break;
          const r = await postUsage(this.store, batch, this.setup());
          this.posted += r.posted;
          if (r.unpriced > 0)
            this.log.warn('usage of unpriced models flagged, not billed', { count: r.unpriced });
          if (batch.length < BATCH) break;
        }
      } catch (err) {
        this.log.error('metering failed; will retry', { error: (err as Error).message });
      } finally {
        this.#running = null;
      }
    })();
    return this.#running;
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running;
    await this.runOnce();
  }
}
