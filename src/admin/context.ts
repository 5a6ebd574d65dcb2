// What the admin API reads and changes: the store, the live route table, the usage log, the price
// books and metrics. Given by the composition root (src/server); admin never imports the gateway.
import type { IntervalHistogram } from 'node:perf_hooks';
import type { CapacityPlan } from '../capacity/index.js';
import type { Clock } from '../clock/index.js';
import type { Config } from '../config/index.js';
import type { PriceBooks } from '../ledger/index.js';
import type { BudgetDrift, Limiter, LimitSet } from '../limits/index.js';
import type { GatewayMetrics } from '../observability/index.js';
import type { Catalog, HealthTracker, LiveRoutes } from '../routing/index.js';
import type { SpoolStats } from '../spool/index.js';
import type { Store } from '../store/index.js';

export interface AdminContext {
  readonly config: Config;
  readonly clock: Clock;
  readonly store: Store;
  readonly catalog: Catalog;
  readonly routes: LiveRoutes;
  readonly licenseeOf: ReadonlyMap<string, string>;
  /** Usage records: counters, and flush() to have every record so far stored and posted. */
  readonly usageLog: SpoolStats & { flush(): Promise<void> };
  readonly priceBooks: PriceBooks | null;
  readonly metrics: GatewayMetrics;
  /** Each deployment's circuit breaker. */
  readonly health: HealthTracker;
  /** The serving thread's event-loop delay since the previous scrape (reset by /metrics). */
  readonly loopDelay: IntervalHistogram;
  /** Tells the fleet's other nodes about a change made here. */
  announce(what: 'rollout' | 'keys'): void;
  /** Re-reads this node's key ring from the store (after a key changed here). */
  reloadKeys(): Promise<void>;
  /** Provisioned capacity pools. */
  readonly capacity: CapacityPlan;
  /** The limit rules in force (read through: key changes swap them) and the limiter's counters. */
  readonly limits: {
    readonly rules: LimitSet;
    readonly limiter: Limiter;
    readonly drift: ReadonlyMap<string, BudgetDrift>;
    readonly currency: string;
  };
  /** This node's id and registry, when it runs in a fleet (or alone, registered all the same). */
  readonly node: NodeInfo;
}

export interface NodeInfo {
  readonly id: string;
  readonly version: string;
  readonly configHash: string;
  readonly heartbeatMs: number;
}
