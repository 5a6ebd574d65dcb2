export { isConsolePath, serveConsole } from './serve-console.js';
