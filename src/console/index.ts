export { consoleRoutes } from './serve-console.js';
