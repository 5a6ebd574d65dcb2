export { generateKey, hashKey, presentedKey, presentsKey } from './api-key.js';
export { type JsonBody, readBody, readJsonBody } from './read-body.js';
export { sendError, sendJson, sendJsonBytes } from './respond.js';
export type { Handler, Method, Route, RouterOptions } from './router.js';
export { Exchange, Router } from './router.js';
