// Builds the limits of a node: the rules (the config's and every key's own), the limiter (Redis
// on a fleet, in process on one node), and the budget reconcile against the ledger, run once
// before the node serves (which seeds fresh counters) and every limits.reconcileMs after.
import type { Clock } from '../clock/index.js';
import type { Config } from '../config/index.js';
import { formatMicros } from '../ledger/index.js';
import {
  type BudgetDrift,
  type Limiter,
  LimitSet,
  LocalLimiter,
  RedisLimiter,
  reconcileBudgets,
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
}

export interface StartedLimits {
  readonly limits: GatewayLimits;
  /** Recompiles the rules after the keys changed. */
  reloadRules(keys: readonly ApiKeyRecord[]): void;
  /** Runs the budget reconcile now (the timer runs it every limits.reconcileMs). */
  reconcile(): Promise<void>;
  close(): Promise<void>;
}

export async function startLimits(p: LimitsParts): Promise<StartedLimits> {
  const cfg = p.config.limits;
  const ttl = cfg?.reservationTtlMs ?? 900_000;
  const rulesOf = (keys: readonly ApiKeyRecord[]) =>
    LimitSet.from(cfg, keys, (problem) =>
      p.log.warn('a key has limits that do not parse; ignored', { problem }),
    );
  const onAlert = (a: { rule: { id: string }; periodId: string; fraction: number; spentMicros: bigint }) => {
    p.metrics.budgetAlerts.inc({ rule: a.rule.id, fraction: String(a.fraction) });
    p.log.warn('budget alert', {
      rule: a.rule.id,
      period: a.periodId,
      fraction: a.fraction,
      spent: formatMicros(a.spentMicros),
    });
  };
  const nodes = liveNodeCount(p);
  const limiter: Limiter = p.redisUrl
    ? await RedisLimiter.connect({
        url: p.redisUrl,
        namespace: p.config.cluster.namespace,
        reservationTtlMs: ttl,
        onRedisDown: cfg?.onRedisDown ?? 'fail-closed',
        liveNodes: nodes.get,
        log: p.log,
        onAlert,
        onRoundTrip: (op) => p.metrics.limiterRoundTrips.inc({ op }),
      })
    : new LocalLimiter({ reservationTtlMs: ttl, onAlert });
  const limits: GatewayLimits = {
    rules: rulesOf(p.keys),
    limiter,
    defaultMaxTokens: cfg?.defaultMaxTokens ?? 4_096,
    currency: p.currency ?? '',
    drift: new Map(),
  };
  const reconcile = async () => {
    try {
      for (const d of await reconcileBudgets(p.store, limits.rules.rules, limiter, p.clock.now()))
        (limits.drift as Map<string, BudgetDrift>).set(d.rule, d);
    } catch (err) {
      p.log.warn('budget reconcile failed; retried at the next interval', { error: (err as Error).message });
    }
  };
  await reconcile();
  const timer = p.clock.setInterval(() => void reconcile(), cfg?.reconcileMs ?? 60_000);
  return {
    limits,
    reloadRules: (keys) => {
      limits.rules = rulesOf(keys);
    },
    reconcile,
    async close() {
      timer.cancel();
      nodes.stop();
      await limiter.close();
    },
  };
}

/** Live nodes (a heartbeat within three intervals), read from the registry: the local share's divisor. */
function liveNodeCount(p: LimitsParts): { get: () => number; stop: () => void } {
  let count = 1;
  if (!p.redisUrl || p.config.limits?.onRedisDown !== 'local-share')
    return { get: () => count, stop: () => {} };
  const every = p.config.cluster.heartbeatMs;
  const read = () =>
    p.store.listNodes().then(
      (ns) => {
        const now = p.clock.now();
        count = Math.max(
          1,
          ns.filter((n) => n.state === 'serving' && n.heartbeatAtMs >= now - 3 * every).length,
        );
      },
      () => undefined,
    );
  void read();
  const t = p.clock.setInterval(() => void read(), every);
  return { get: () => count, stop: () => t.cancel() };
}
