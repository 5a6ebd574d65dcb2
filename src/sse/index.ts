export { DONE_FRAME, frameData } from './frame-sse.js';
export type { SseEvent } from './parse-sse.js';
export { SseParser } from './parse-sse.js';
