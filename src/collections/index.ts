export { NestedMap } from './nested-map.js';
