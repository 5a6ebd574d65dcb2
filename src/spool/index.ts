export { encodeLine, segmentName } from './format.js';
export type { SpoolOptions, SpoolStats, Written } from './usage-spool.js';
export { spoolOwner, UsageSpool, writerNiceOf } from './usage-spool.js';
