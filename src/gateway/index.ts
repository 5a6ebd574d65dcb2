export { hashKey } from '../http/index.js';
export type { Caller } from './auth.js';
export { generateKey, KeyRing } from './auth.js';
export type { GatewayContext, GatewayEvents } from './context.js';
export type { GatewayCore, GatewayOptions } from './create-core.js';
export { createGatewayCore, newRequestId } from './create-core.js';
export type { BoundDeployment, Upstream } from './upstreams.js';
