// Builds the limits of a node: the rules (the config's and every key's own), the limiter (Redis
// on a fleet, in process on one node), and the budget reconcile against the ledger, run once
// before the node serves (which seeds fresh counters) and every limits.reconcileMs after.
import type { Clock } from '../clock/index.js';
import type { Config } from '../config/index.js';
import { formatMicros } from '../ledger/index.js';
import {
  type BudgetAlert,
  type BudgetDrift,
  BudgetReconciler,
  type Limiter,
  LimitSet,
  LocalLimiter,
  RedisLimiter,
} from '../limits/index.js';
import type { GatewayMetrics, Logger } from '../observability/index.js';
import type { ApiKeyRecord, Store } from '../store/index.js';

export interface GatewayLimits {
  /** The rules in force: the config's and every key's own; swapped when keys change. */
  rules: LimitSet;
  readonly limiter: Limiter;
  readonly defaultMaxTokens: number;
  /** The ledger's currency, for budget messages. */
  readonly currency: string;
  /** Each budget rule's last reconcile: counter − ledger, in micro-units. */
  readonly drift: ReadonlyMap<string, BudgetDrift>;
}

export interface LimitsParts {
  readonly config: Config;
  readonly store: Store;
  readonly clock: Clock;
  readonly log: Logger;
  readonly metrics: GatewayMetrics;
  readonly redisUrl: string | null;
  readonly keys: readonly ApiKeyRecord[];
  readonly currency: string | null;
  /** This node's id in the registry. */
  readonly nodeId: string;
  /** Has this node's usage stored and posted, before a fresh Redis is seeded: null, or why not. */
  readonly flushUsage: () => Promise<string | null>;
}

export interface StartedLimits {
  readonly limits: GatewayLimits;
  /** Recompiles the rules from every key. */
  reloadRules(keys: readonly ApiKeyRecord[]): void;
  /** Recompiles only the limits of the keys that changed, and drops those of removed keys. */
  updateRules(changed: readonly ApiKeyRecord[], removed: readonly string[]): void;
  /** Runs the budget reconcile now (the timer runs it every limits.reconcileMs). */
  reconcile(): Promise<void>;
  close(): Promise<void>;
}

export async function startLimits(p: LimitsParts): Promise<StartedLimits> {
  const cfg = p.config.limits;
  const ttl = cfg?.reservationTtlMs ?? 900_000;
  const onProblem = (problem: string) =>
    p.log.warn('a key has limits that do not parse; ignored', { problem });
  const rulesOf = (keys: readonly ApiKeyRecord[]) => LimitSet.from(cfg, keys, onProblem);
  const drift = new Map<string, BudgetDrift>();
  let rules = rulesOf(p.keys);
  // A request may be posted as long after it started as its reservation lives.
  const reconciler = new BudgetReconciler(p.store, cfg?.reconcileFullEvery ?? 10, ttl);
  const reconcileWith = async (limiter: Limiter, full: boolean) => {
    const pass = await reconciler.run(rules.rules, limiter, p.clock.now(), { full });
    for (const d of pass.drift) drift.set(d.rule, d);
    p.metrics.budgetReconciled.inc({ outcome: 'checked' }, pass.checked);
    p.metrics.budgetReconciled.inc({ outcome: 'unchanged' }, pass.unchanged);
  };
  // Seeding counters that a fresh Redis lost compares every rule.
  const limiter = await createLimiter(p, ttl, (l) => reconcileWith(l, true));
  const limits: GatewayLimits = {
    get rules() {
      return rules;
    },
    set rules(r: LimitSet) {
      rules = r;
    },
    limiter,
    defaultMaxTokens: cfg?.defaultMaxTokens ?? 4_096,
    currency: p.currency ?? '',
    drift,
  };
  const reconcile = () =>
    reconcileWith(limiter, false).catch((err: unknown) =>
      p.log.warn('budget reconcile failed; retried at the next interval', { error: (err as Error).message }),
    );
  // On one node the counters start empty: seed them now. (A fleet's limiter seeds on connect.)
  if (!p.redisUrl) await reconcile();
  const timer = p.clock.setInterval(() => void reconcile(), cfg?.reconcileMs ?? 60_000);
  return {
    limits,
    reloadRules: (keys) => {
      rules = rulesOf(keys);
    },
    updateRules: (changed, removed) => {
      rules.applyKeys(changed, removed, onProblem);
    },
    reconcile,
    async close() {
      timer.cancel();
      await limiter.close();
    },
  };
}

function createLimiter(
  p: LimitsParts,
  ttl: number,
  reconcile: (l: Limiter) => Promise<void>,
): Limiter | Promise<Limiter> {
  const onAlert = (a: BudgetAlert) => {
    p.metrics.budgetAlerts.inc({ rule: a.rule.id, fraction: String(a.fraction) });
    p.log.warn('budget alert', {
      rule: a.rule.id,
      period: a.periodId,
      fraction: a.fraction,
      spent: formatMicros(a.spentMicros),
    });
  };
  if (!p.redisUrl) return new LocalLimiter({ reservationTtlMs: ttl, onAlert });
  const live = liveNodes(p);
  return RedisLimiter.connect({
    url: p.redisUrl,
    namespace: p.config.cluster.namespace,
    reservationTtlMs: ttl,
    onRedisDown: p.config.limits?.onRedisDown ?? 'fail-closed',
    liveNodes: live.count,
    liveNodeIds: live.ids,
    nodeId: p.nodeId,
    flushUsage: p.flushUsage,
    reconcile,
    log: p.log,
    onAlert,
    onRoundTrip: (op) => p.metrics.limiterRoundTrips.inc({ op }),
  });
}

/**
 * The nodes alive now (a heartbeat within three intervals, serving), from the registry: who must
 * flush before Redis is seeded, and the local share's divisor (refreshed at most once a heartbeat).
 */
function liveNodes(p: LimitsParts): { count: () => number; ids: () => Promise<string[]> } {
  const every = p.config.cluster.heartbeatMs;
  let count = 1;
  let readAtMs = Number.NEGATIVE_INFINITY;
  const ids = async () => {
    const now = p.clock.now();
    const ns = await p.store.listNodes();
    const alive = ns
      .filter((n) => n.state === 'serving' && n.heartbeatAtMs >= now - 3 * every)
      .map((n) => n.nodeId);
    count = Math.max(1, alive.length);
    readAtMs = now;
    return alive;
  };
  return {
    count: () => {
      if (p.clock.now() - readAtMs >= every) void ids().catch(() => undefined);
      return count;
    },
    ids,
  };
}
