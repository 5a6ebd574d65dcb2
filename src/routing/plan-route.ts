// The routing policy, as a pure function: a model's deployments and a random source in; the
// order to try them out. Primary-cloud deployments come first (weighted among themselves), then
// the others by priority, weighted within a priority. Health is applied by the caller at attempt
// time (HealthTracker.acquire), so that a probe slot is only taken for a deployment really tried.
import type { CatalogDeployment, CatalogModel } from './catalog.js';

/** Weighted shuffle (Efraimidis–Spirakis): each item's key is u^(1/w); larger keys go first. Weights are > 0 (compileTiers drops 0). */
function weightedOrder(items: readonly CatalogDeployment[], random: () => number): CatalogDeployment[] {
  if (items.length === 2) {
    // The common case (two regions of the primary): one draw, no allocation beyond the result.
    const [a, b] = items as [CatalogDeployment, CatalogDeployment];
    return random() * (a.weight + b.weight) < a.weight ? [a, b] : [b, a];
  }
  return items
    .map((d) => ({ d, k: random() ** (1 / d.weight) }))
    .sort((a, b) => b.k - a.k)
    .map((x) => x.d);
}

export function orderDeployments(model: CatalogModel, random: () => number): readonly CatalogDeployment[] {
  if (model.fixedOrder) return model.fixedOrder;
  const out: CatalogDeployment[] = [];
  for (const tier of model.tiers) out.push(...(tier.length === 1 ? tier : weightedOrder(tier, random)));
  return out;
}
