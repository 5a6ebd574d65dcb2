// The route plan: the admitted model's deployments in the order to try them (primary cloud first,
// then by priority, weighted within a tier), each resolved to its bound upstream.
import { orderDeployments } from '../routing/index.js';
import type { Admitted } from './admit.js';
import type { GatewayContext } from './context.js';
import type { RequestState } from './request-state.js';
import { traceRoute } from './spans.js';
import type { BoundDeployment } from './upstreams.js';

export interface RoutePlan {
  readonly order: readonly BoundDeployment[];
  readonly admitted: Admitted;
}

export function planRoute(gw: GatewayContext, state: RequestState, admitted: Admitted): RoutePlan {
  const { model, priced } = admitted;
  let ordered = orderDeployments(model, Math.random);
  if (priced !== model.deployments) {
    const ok = new Set(priced);
    ordered = ordered.filter((d) => ok.has(d));
  }
  traceRoute(gw, state, model, ordered, admitted.licensed);
  return { order: ordered.map((d) => gw.bindings.get(d.key)!), admitted };
}
