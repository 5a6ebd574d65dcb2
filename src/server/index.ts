export type { Gateway } from './create-server.js';
export { createGateway } from './create-server.js';
