// The catalog compiled from the config: public model name → its deployments, with the cloud,
// region and upstream each one lives on. Built once, frozen, looked up per request.
import type { Config } from '../config/index.js';
import type { ProviderId } from '../providers/index.js';

export interface CatalogDeployment {
  /** `<upstream id>/<deployment>`: the key for health and metrics. */
  readonly key: string;
  readonly upstreamId: string;
  readonly deployment: string;
  readonly modelVersion: string;
  readonly cloud: string;
  readonly region: string;
  readonly provider: ProviderId;
  readonly weight: number;
  readonly priority: number;
  readonly primary: boolean;
}

export interface CatalogModel {
  readonly name: string;
  readonly ownedBy: string;
  readonly deployments: readonly CatalogDeployment[];
  /** Preference tiers: the primary cloud's deployments, then the others grouped by priority. */
  readonly tiers: readonly (readonly CatalogDeployment[])[];
  /** Set when no tier has a choice to make: the order is fixed and needs no random draw. */
  readonly fixedOrder: readonly CatalogDeployment[] | null;
}

export function compileTiers(deployments: readonly CatalogDeployment[]): CatalogDeployment[][] {
  const live = deployments.filter((d) => d.weight > 0);
  const primary = live.filter((d) => d.primary);
  const byPriority = new Map<number, CatalogDeployment[]>();
  for (const d of live.filter((x) => !x.primary)) {
    const list = byPriority.get(d.priority) ?? [];
    list.push(d);
    byPriority.set(d.priority, list);
  }
  const others = [...byPriority.keys()].sort((a, b) => a - b).map((p) => byPriority.get(p)!);
  return [primary, ...others].filter((t) => t.length > 0);
}

export type Catalog = ReadonlyMap<string, CatalogModel>;

export function compileCatalog(config: Config): Catalog {
  const upstreams = new Map(config.upstreams.map((u) => [u.id, u]));
  const out = new Map<string, CatalogModel>();
  for (const m of config.models) {
    const deployments = m.deployments.map((d) => {
      const u = upstreams.get(d.upstream)!;
      return Object.freeze({
        key: `${u.id}/${d.deployment}`,
        upstreamId: u.id,
        deployment: d.deployment,
        modelVersion: d.modelVersion,
        cloud: u.cloud,
        region: u.region,
        provider: u.provider,
        weight: d.weight,
        priority: d.priority,
        primary: u.cloud === config.routing.primaryCloud,
      });
    });
    const tiers = compileTiers(deployments);
    const fixedOrder = tiers.every((t) => t.length === 1) ? Object.freeze(tiers.flat()) : null;
    out.set(
      m.name,
      Object.freeze({
        name: m.name,
        ownedBy: m.ownedBy,
        deployments: Object.freeze(deployments),
        tiers,
        fixedOrder,
      }),
    );
  }
  return out;
}
