// The route plan: the admitted model's deployments in the order to try them (primary cloud first,
// then by priority, weighted within a tier).

import { orderForCapacity } from '../capacity/index.js';
import { type CatalogDeployment, orderDeployments } from '../routing/index.js';
import type { Admitted } from './admit.js';
import { listCost } from './capacity.js';
import type { GatewayContext } from './context.js';
import type { RequestState } from './request-state.js';
import { traceRoute } from './spans.js';

export interface RoutePlan {
  /** In the order to try; each is resolved to its bound upstream only when it is tried. */
  readonly order: readonly CatalogDeployment[];
  readonly admitted: Admitted;
}

export function planRoute(gw: GatewayContext, state: RequestState, admitted: Admitted): RoutePlan {
  const { model, priced } = admitted;
  let ordered = orderDeployments(model, Math.random);
  if (priced !== model.deployments) {
    const ok = new Set(priced);
    ordered = ordered.filter((d) => ok.has(d));
  }
  if (!gw.capacity.empty)
    ordered = orderForCapacity(ordered, gw.capacity, state.startedAtMs, (d) =>
      listCost(gw, model.name, d, state.startedAtMs),
    );
  traceRoute(gw, state, model, ordered, admitted.licensed);
  return { order: ordered, admitted };
}
