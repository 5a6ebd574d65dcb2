export type { Pool, Routable } from './pools.js';
export { CapacityPlan, orderForCapacity } from './pools.js';
