// Serves the web console at /console: one HTML page, its script and styles, and uPlot for the
// charts, all from this process (no CDN, no external network). The page holds no data; every
// figure comes from the admin API, which needs the admin key.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { type Exchange, type Route, Router } from '../http/index.js';

interface Asset {
  readonly type: string;
  readonly body: Buffer;
}

const here = (p: string) => fileURLToPath(new URL(`../../../src/console/assets/${p}`, import.meta.url));
const require = createRequire(import.meta.url);
const uplotDir = fileURLToPath(new URL('.', `file://${require.resolve('uplot/package.json')}`));

let cache: Map<string, Asset> | null = null;

function assets(): Map<string, Asset> {
  if (cache) return cache;
  cache = new Map([
    ['/console', { type: 'text/html; charset=utf-8', body: readFileSync(here('index.html')) }],
    [
      '/console/assets/app.js',
      { type: 'text/javascript; charset=utf-8', body: readFileSync(here('app.js')) },
    ],
    ['/console/assets/app.css', { type: 'text/css; charset=utf-8', body: readFileSync(here('app.css')) }],
    [
      '/console/assets/uplot.js',
      { type: 'text/javascript; charset=utf-8', body: readFileSync(`${uplotDir}dist/uPlot.iife.min.js`) },
    ],
    [
      '/console/assets/uplot.css',
      { type: 'text/css; charset=utf-8', body: readFileSync(`${uplotDir}dist/uPlot.min.css`) },
    ],
  ]);
  return cache;
}

const ASSET_PATHS = [
  '/console',
  '/console/assets/app.js',
  '/console/assets/app.css',
  '/console/assets/uplot.js',
  '/console/assets/uplot.css',
];

/** GET /console (and /console/) and its assets. */
export function consoleRoutes(): Router {
  const rows: Route[] = ASSET_PATHS.map((path) => ({ method: 'GET', path, handler: serve(path) }));
  rows.push({ method: 'GET', path: '/console/', handler: serve('/console') });
  return new Router(rows);
}

function serve(path: string) {
  return (req: IncomingMessage, res: ServerResponse, ex: Exchange): void => {
    req.resume();
    serveAsset(path, res, ex.requestId);
  };
}

function serveAsset(path: string, res: ServerResponse, requestId: string): void {
  const a = assets().get(path)!;
  res.writeHead(200, {
    'content-type': a.type,
    'content-length': a.body.length,
    'cache-control': 'no-cache',
    'x-request-id': requestId,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    // Only this origin: no inline script, no third-party anything.
    'content-security-policy':
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; frame-ancestors 'none'",
  });
  res.end(a.body);
}
