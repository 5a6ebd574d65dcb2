export type { Catalog, CatalogDeployment, CatalogModel } from './catalog.js';
export { compileCatalog } from './catalog.js';
export type { Eligibility, Exclusion, RouteEntry, RouteTable } from './compile-route-table.js';
export { compileRouteTable } from './compile-route-table.js';
export type { RouteExplanation } from './explain-route.js';
export { explainRoute, formatExplanation } from './explain-route.js';
export type { Availability, CooldownPolicy, HealthEvents } from './health.js';
export { HealthTracker } from './health.js';
export { orderDeployments } from './plan-route.js';
