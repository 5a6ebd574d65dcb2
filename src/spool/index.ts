export { decodeLines, encodeLine, SEGMENT_PATTERN, segmentName } from './format.js';
export type { SpoolOptions, SpoolStats } from './usage-spool.js';
export { spoolOwner, UsageSpool } from './usage-spool.js';
