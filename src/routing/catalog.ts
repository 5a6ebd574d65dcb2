// The catalog compiled from the config: public model name → its deployments, with the cloud,
// region and upstream each one lives on. Built once, frozen, looked up per request.
import type { Config } from '../config/index.js';

export interface CatalogDeployment {
  /** `<upstream id>/<deployment>`: the key for health and metrics. */
  readonly key: string;
  readonly upstreamId: string;
  readonly deployment: string;
  readonly modelVersion: string;
  readonly cloud: string;
  readonly region: string;
  readonly provider: 'azure-openai' | 'openai';
  readonly weight: number;
  readonly priority: number;
  readonly primary: boolean;
}

export interface CatalogModel {
  readonly name: string;
  readonly ownedBy: string;
  readonly deployments: readonly CatalogDeployment[];
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
    out.set(
      m.name,
      Object.freeze({ name: m.name, ownedBy: m.ownedBy, deployments: Object.freeze(deployments) }),
    );
  }
  return out;
}
