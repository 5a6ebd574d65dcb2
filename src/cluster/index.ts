export type { FleetBusOptions, FleetMessage } from './fleet-bus.js';
export { FleetBus } from './fleet-bus.js';
