export type { Caller } from './auth.js';
export { generateKey, hashKey, KeyRing } from './auth.js';
export type { GatewayContext, GatewayEvents } from './context.js';
export type { Gateway, GatewayOptions } from './server.js';
export { createGateway } from './server.js';
export { UpstreamConfigError } from './upstreams.js';
