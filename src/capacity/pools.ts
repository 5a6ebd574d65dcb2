// Capacity pools: provisioned throughput bought from a cloud (Azure PTU, Bedrock model units,
// Vertex GSU, or a plain tokens-per-minute reservation) that serves some deployments, at a fixed
// cost per month whatever it serves. Compiled once from the config: each pool's capacity in tokens
// per minute, the share of it to fill before spilling over, and which deployment it serves.
import type { CapacityConfig, PoolConfig } from '../config/index.js';
import { parseMajor } from '../ledger/index.js';
import type { LimitRule } from '../limits/index.js';

export interface Pool {
  readonly id: string;
  readonly unit: PoolConfig['unit'];
  readonly size: number;
  readonly deployments: readonly string[];
  readonly tokensPerMinutePerUnit: number;
  /** size × tokensPerMinutePerUnit. */
  readonly capacityTpm: number;
  readonly targetUtilization: number;
  /** What is admitted: floor(capacity × targetUtilization) tokens in any 60 s. */
  readonly admitTpm: number;
  readonly fromMs: number;
  readonly toMs: number | null;
  readonly fixedMicrosPerMonth: bigint;
  readonly accelerator: string | null;
  readonly datacenter: string | null;
  readonly overflow: string | null;
  /** Azure: the standard deployment Azure spills this pool's overflow to (x-ms-spillover-deployment). */
  readonly spilloverDeployment: string | null;
  /** Bedrock: the service tier its requests ask for (`reserved`). */
  readonly serviceTier: string | null;
  /** The pool as a counter of the limiter (tokens per minute, reserve-then-settle). */
  readonly rule: LimitRule;
}

export class CapacityPlan {
  readonly pools: readonly Pool[];
  readonly #byDeployment: ReadonlyMap<string, Pool>;

  constructor(config: CapacityConfig | undefined) {
    const util = config?.targetUtilization ?? 0.9;
    this.pools = (config?.pools ?? []).map((p) => compilePool(p, util));
    this.#byDeployment = new Map(this.pools.flatMap((p) => p.deployments.map((d) => [d, p] as const)));
  }

  get empty(): boolean {
    return this.pools.length === 0;
  }

  /** The pool that serves a deployment at `atMs` (null: pay-as-you-go, or the pool's term is over). */
  poolOf(deploymentKey: string, atMs: number): Pool | null {
    const p = this.#byDeployment.get(deploymentKey);
    if (!p || atMs < p.fromMs || (p.toMs !== null && atMs >= p.toMs)) return null;
    return p;
  }

  byId(id: string): Pool | null {
    return this.pools.find((p) => p.id === id) ?? null;
  }
}

function compilePool(p: PoolConfig, defaultUtil: number): Pool {
  const capacityTpm = Math.floor(p.size * p.tokensPerMinutePerUnit);
  const targetUtilization = p.targetUtilization ?? defaultUtil;
  const admitTpm = Math.floor(capacityTpm * targetUtilization);
  return Object.freeze({
    id: p.id,
    unit: p.unit,
    size: p.size,
    deployments: p.deployments,
    tokensPerMinutePerUnit: p.tokensPerMinutePerUnit,
    capacityTpm,
    targetUtilization,
    admitTpm,
    fromMs: Date.parse(p.term.from),
    toMs: p.term.to === undefined ? null : Date.parse(p.term.to),
    fixedMicrosPerMonth: parseMajor(p.cost.fixedPerMonth),
    accelerator: p.accelerator ?? null,
    datacenter: p.datacenter ?? null,
    overflow: p.overflow ?? null,
    spilloverDeployment: p.spilloverDeployment ?? null,
    serviceTier: p.serviceTier ?? null,
    rule: Object.freeze({
      id: `pool:${p.id}`,
      keyId: null,
      keyBase: null,
      tenantId: null,
      model: null,
      rpm: null,
      tpm: admitTpm,
      concurrent: null,
      budget: null,
    }),
  });
}

export interface Routable {
  readonly key: string;
  readonly primary: boolean;
}

/**
 * The route plan with capacity: the agreement's order first (the primary cloud's deployments
 * before the others, as the plan has them), and within each of those two groups the deployments
 * of pools in force first (fixed cost, already paid), then pay-as-you-go in cost order (the plan's
 * order among equals). Pools that are full are skipped at attempt time, so traffic spills to
 * pay-as-you-go; a pool's `overflow` pool is tried right after it.
 */
export function orderForCapacity<D extends Routable>(
  order: readonly D[],
  plan: CapacityPlan,
  atMs: number,
  costOf: (d: D) => bigint,
): D[] {
  if (plan.empty) return [...order];
  // One pass: [primary pooled, primary pay-as-you-go, other pooled, other pay-as-you-go].
  const parts: D[][] = [[], [], [], []];
  for (const d of order) parts[(d.primary ? 0 : 2) + (plan.poolOf(d.key, atMs) ? 0 : 1)]!.push(d);
  const byCost = (ds: D[]) => {
    if (ds.length < 2) return ds;
    const c = new Map(ds.map((d) => [d, costOf(d)] as const));
    // Array.prototype.sort is stable: equals keep the plan's order.
    return ds.sort((x, y) => (c.get(x)! < c.get(y)! ? -1 : c.get(x)! > c.get(y)! ? 1 : 0));
  };
  const overflow = plan.pools.some((p) => p.overflow !== null);
  const out = [
    ...(overflow ? withOverflow(parts[0]!, order, plan, atMs) : parts[0]!),
    ...byCost(parts[1]!),
    ...(overflow ? withOverflow(parts[2]!, order, plan, atMs) : parts[2]!),
    ...byCost(parts[3]!),
  ];
  // A deployment pulled forward as another pool's overflow is not tried twice.
  return overflow ? out.filter((d, i) => out.indexOf(d) === i) : out;
}

function withOverflow<D extends Routable>(
  pooled: readonly D[],
  all: readonly D[],
  plan: CapacityPlan,
  atMs: number,
): D[] {
  const out: D[] = [];
  for (const d of pooled) {
    out.push(d);
    const next = plan.poolOf(d.key, atMs)?.overflow;
    if (!next) continue;
    for (const o of all) if (plan.poolOf(o.key, atMs)?.id === next) out.push(o);
  }
  return out;
}
