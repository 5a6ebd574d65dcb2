// What the request stages share: frozen config and catalog, bound upstreams, health, the key
// ring, the usage log, telemetry and the clock. Built once by createGatewayCore.

import type { CapacityPlan } from '../capacity/index.js';
import type { Clock } from '../clock/index.js';
import type { Config } from '../config/index.js';
import type { PriceBooks } from '../ledger/index.js';
import type { GatewayMetrics, Logger, Tracer } from '../observability/index.js';
import type { Catalog, CatalogDeployment, HealthTracker, LiveRoutes } from '../routing/index.js';
import type { UsageSpool } from '../spool/index.js';
import type { KeyRing } from './auth.js';
import type { GatewayLimits } from './start-limits.js';
import type { BoundDeployment, Upstream } from './upstreams.js';

export interface GatewayEvents {
  onFailover?(from: CatalogDeployment, reason: string): void;
  onRequestDone?(status: number, errorCode: string | null): void;
}

export interface GatewayContext {
  readonly config: Config;
  readonly clock: Clock;
  readonly catalog: Catalog;
  /** The compiled route table (agreement + rollout log + catalog), swapped atomically. */
  readonly routes: LiveRoutes;
  /** Tenant id → the agreement party its traffic is licensed as. */
  readonly licenseeOf: ReadonlyMap<string, string>;
  readonly upstreams: ReadonlyMap<string, Upstream>;
  /** Deployment key → its bound upstream, resolved once at start. */
  readonly bindings: ReadonlyMap<string, BoundDeployment>;
  readonly health: HealthTracker;
  readonly keys: KeyRing;
  /** Provisioned capacity pools (filled first, then spilled over); empty when none are configured. */
  readonly capacity: CapacityPlan;
  /** Limit rules and the limiter that holds their counters (in process, or Redis on a fleet). */
  readonly limits: GatewayLimits;
  /** The usage spool: a record is appended (one write to the kernel) before the answer's last byte. */
  readonly usageLog: UsageSpool;
  readonly events: GatewayEvents;
  /** Price books, when metering is on; with `refuseUnpriced`, unpriced model versions are not served. */
  readonly priceBooks: PriceBooks | null;
  readonly refuseUnpriced: boolean;
  readonly metrics: GatewayMetrics;
  readonly tracer: Tracer;
  readonly logger: Logger;
  /**
   * Set when the server starts draining: a request that still arrives is refused 503
   * `shutting_down` by its handler, with a usage record for its tenant.
   */
  draining: boolean;
}
