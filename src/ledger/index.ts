export type { UsageLogOptions } from './usage-log.js';
export { UsageLog } from './usage-log.js';
