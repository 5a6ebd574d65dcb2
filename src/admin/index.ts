export { handleAdmin, isAdminPath, toJson } from './admin-api.js';
export { handleMetrics } from './metrics-endpoint.js';
