export type { Catalog, CatalogDeployment, CatalogModel } from './catalog.js';
export { compileCatalog } from './catalog.js';
export type { Availability, CooldownPolicy, HealthEvents } from './health.js';
export { HealthTracker } from './health.js';
export { orderDeployments } from './plan-route.js';
