export { adminRoutes, toJson } from './admin-api.js';
export type { AdminContext, NodeInfo } from './context.js';
export { metricsHandler } from './metrics-endpoint.js';
