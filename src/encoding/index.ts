export { hex8, hex12 } from './hex.js';
