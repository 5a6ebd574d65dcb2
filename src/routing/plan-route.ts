// The routing policy, as a pure function: a model's deployments and a random source in; the
// order to try them out. Primary-cloud deployments come first (weighted among themselves), then
// the others by priority, weighted within a priority. Health is applied by the caller at attempt
// time (HealthTracker.acquire), so that a probe slot is only taken for a deployment really tried.
import type { CatalogDeployment, CatalogModel } from './catalog.js';

/** Weighted shuffle (Efraimidis–Spirakis): each item's key is u^(1/w); larger keys go first. */
function weightedOrder(items: readonly CatalogDeployment[], random: () => number): CatalogDeployment[] {
  if (items.length <= 1) return items.filter((d) => d.weight > 0);
  return items
    .filter((d) => d.weight > 0)
    .map((d) => ({ d, k: random() ** (1 / d.weight) }))
    .sort((a, b) => b.k - a.k)
    .map((x) => x.d);
}

export function orderDeployments(model: CatalogModel, random: () => number): CatalogDeployment[] {
  const primary = model.deployments.filter((d) => d.primary);
  const others = model.deployments.filter((d) => !d.primary);
  const byPriority = new Map<number, CatalogDeployment[]>();
  for (const d of others) {
    const list = byPriority.get(d.priority) ?? [];
    list.push(d);
    byPriority.set(d.priority, list);
  }
  const tiers = [...byPriority.keys()]
    .sort((a, b) => a - b)
    .map((p) => weightedOrder(byPriority.get(p)!, random));
  return [...weightedOrder(primary, random), ...tiers.flat()];
}
