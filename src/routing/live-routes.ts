// Keeps the route table current. It is rebuilt off the request path and swapped in one
// assignment when the agreement file changes on disk (validated first: an invalid edit is
// logged and the old table keeps serving), when the rollout log grows (this node or another),
// and at the instant a term starts or ends or a soak elapses.
import { readFileSync, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { type Agreement, loadAgreement } from '../agreements/index.js';
import { recordFile } from '../audit/index.js';
import type { Clock, Timer } from '../clock/index.js';
import type { Logger } from '../observability/index.js';
import { type RolloutEvent, readRolloutLog } from '../rollout/index.js';
import type { Store } from '../store/index.js';
import type { Catalog } from './catalog.js';
import { compileRouteTable, type RouteTable } from './compile-route-table.js';

export interface LiveRoutesOptions {
  readonly catalog: Catalog;
  readonly store: Store;
  readonly agreementFile: string | null;
  readonly licensees: readonly string[];
  /** The configuration's capacity pools, which the agreement's programmes may name. */
  readonly pools?: ReadonlySet<string>;
  readonly pollMs: number;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly onRebuild?: (table: RouteTable, cause: string) => void;
}

export class LiveRoutes {
  #table: RouteTable;
  #agreement: Agreement | null;
  #log: RolloutEvent[];
  #mtimeMs: number;
  #timer: Timer | null = null;
  #poll: Timer | null = null;
  #polling = false;
  /** Agreement file edits rejected as invalid (the previous version kept serving). */
  rejectedEdits = 0;
  readonly #now: () => number;

  private constructor(
    readonly opts: LiveRoutesOptions,
    agreement: Agreement | null,
    log: RolloutEvent[],
  ) {
    this.#now = () => opts.clock.now();
    this.#agreement = agreement;
    this.#log = log;
    this.#mtimeMs = opts.agreementFile ? statSync(opts.agreementFile).mtimeMs : 0;
    this.#table = compileRouteTable(opts.catalog, agreement, log, this.#now(), opts.licensees);
    this.#schedule();
    // Without an agreement the rollout log does not bear on routing, so there is nothing to watch.
    if (opts.agreementFile) {
      this.#poll = opts.clock.setInterval(() => void this.#check(), opts.pollMs);
    }
  }

  /** Loads the agreement (a bad file throws: a gateway does not start on an invalid agreement). */
  static async start(opts: LiveRoutesOptions): Promise<LiveRoutes> {
    const agreement = opts.agreementFile ? await LiveRoutes.#load(opts, opts.agreementFile) : null;
    return new LiveRoutes(opts, agreement, await readRolloutLog(opts.store));
  }

  /**
   * Loads and checks the agreement against the catalog's clouds; a version that differs from the
   * last one recorded goes to the audit log, with what changed.
   */
  static async #load(opts: LiveRoutesOptions, file: string): Promise<Agreement> {
    const clouds = new Set([...opts.catalog.values()].flatMap((m) => m.deployments.map((d) => d.cloud)));
    const agreement = loadAgreement(file, { clouds, ...(opts.pools ? { pools: opts.pools } : {}) });
    await recordFile(opts.store, opts.clock, 'agreement', file, readFileSync(file, 'utf8'));
    return agreement;
  }

  get table(): RouteTable {
    return this.#table;
  }
  get agreement(): Agreement | null {
    return this.#agreement;
  }
  get log(): readonly RolloutEvent[] {
    return this.#log;
  }

  /** Recompiles from the current agreement and log; the new table replaces the old in one step. */
  rebuild(cause: string): RouteTable {
    const t0 = performance.now();
    this.#table = compileRouteTable(
      this.opts.catalog,
      this.#agreement,
      this.#log,
      this.#now(),
      this.opts.licensees,
    );
    this.#schedule();
    this.opts.logger.info('route table rebuilt', {
      cause,
      agreementVersion: this.#table.agreementVersionId,
      rolloutSeq: this.#table.rolloutSeq,
      ms: Number((performance.now() - t0).toFixed(3)),
    });
    this.opts.onRebuild?.(this.#table, cause);
    return this.#table;
  }

  /** Reads what was appended to the rollout log now (after this node appended to it). */
  async refreshLog(cause: string): Promise<void> {
    await this.#readNew();
    this.rebuild(cause);
  }

  /**
   * Appends to the log held here the events stored after its last one; whether there were any.
   * The log only grows, in sequence order, so the events after the last seq held are all that
   * is new: a node reads the log whole once, at start.
   */
  async #readNew(): Promise<boolean> {
    const known = this.#log.at(-1)?.seq ?? 0;
    const added = await readRolloutLog(this.opts.store, known);
    // Two reads may overlap (a poll and an admin append's refresh): keep each event once.
    const fresh = added.filter((e) => e.seq > (this.#log.at(-1)?.seq ?? 0));
    if (fresh.length === 0) return false;
    this.#log = [...this.#log, ...fresh];
    return true;
  }

  #schedule(): void {
    this.#timer?.cancel();
    this.#timer = null;
    const until = this.#table.validUntilMs;
    if (!Number.isFinite(until)) return;
    // +1 ms lands just past the boundary (the clock reaches far deadlines in steps).
    this.#timer = this.opts.clock.setTimeout(
      () => this.rebuild('term boundary'),
      Math.max(0, until - this.#now()) + 1,
    );
  }

  async #check(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      const file = this.opts.agreementFile;
      if (file) {
        const mtimeMs = statSync(file).mtimeMs;
        if (mtimeMs !== this.#mtimeMs) {
          this.#mtimeMs = mtimeMs;
          try {
            this.#agreement = await LiveRoutes.#load(this.opts, file);
            this.rebuild('agreement file changed');
          } catch (err) {
            this.rejectedEdits++;
            this.opts.logger.error('agreement file change rejected; the previous version keeps serving', {
              file,
              error: (err as Error).message,
            });
          }
        }
      }
      // The log only grows: its last sequence number (one index read) says whether to read the
      // events past the last one held (reading it all took 7-14 ms on this thread for 1,000 events).
      const known = this.#log.at(-1)?.seq ?? 0;
      if ((await this.opts.store.lastRolloutSeq()) !== known && (await this.#readNew()))
        this.rebuild('rollout log grew');
    } catch (err) {
      this.opts.logger.error('route table check failed', { error: (err as Error).message });
    } finally {
      this.#polling = false;
    }
  }

  stop(): void {
    this.#timer?.cancel();
    this.#poll?.cancel();
  }
}
