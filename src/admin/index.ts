export { adminRoutes, toJson } from './admin-api.js';
export type { AdminContext, NodeInfo } from './context.js';
export { MAX_GRACE_S, planKeyRotation } from './keys-api.js';
export { metricsHandler } from './metrics-endpoint.js';
