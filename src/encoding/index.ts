export { hex8, hex12 } from './hex.js';
export { jsonString } from './json-string.js';
