// HTTP routing by tables: each API is a list of { method, path, handler } rows, and sub-apps are
// mounted under a prefix (as hono's app.route(path, subApp)). Paths are exact, or end in a
// `:name` segment that captures one path segment. A path that no row has is `not_found`; a path
// some row has under another method is `method_not_allowed` with an `allow` header.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gatewayError } from '../errors/index.js';
import { sendError } from './respond.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({});

/** What the server decided about a request before any handler ran. */
export class Exchange {
  #query: URLSearchParams | null = null;
  /** Captured `:name` segments, set by the router. */
  params: Readonly<Record<string, string>> = NO_PARAMS;

  constructor(
    readonly requestId: string,
    /** performance.now() when the request arrived. */
    readonly t0: number,
    /** The path without the query. */
    readonly path: string,
    readonly rawQuery: string,
  ) {}

  /** The query string's parameters (parsed on first use: the data plane never needs them). */
  get query(): URLSearchParams {
    this.#query ??= new URLSearchParams(this.rawQuery);
    return this.#query;
  }
}

export type Handler = (req: IncomingMessage, res: ServerResponse, ex: Exchange) => Promise<void> | void;

export interface Route {
  readonly method: Method;
  readonly path: string;
  readonly handler: Handler;
}

interface Compiled {
  readonly method: Method;
  readonly prefix: string;
  /** Set when the path ends in `:name`: the prefix must be followed by exactly one segment. */
  readonly param: string | null;
  readonly handler: Handler;
}

export interface RouterOptions {
  /** The not_found message for a path under this router that no row serves. */
  readonly notFound?: (method: string, path: string) => string;
}

export class Router {
  readonly #rows: Compiled[] = [];
  readonly #mounts: { readonly prefix: string; readonly router: Router }[] = [];

  constructor(
    routes: readonly Route[] = [],
    readonly opts: RouterOptions = {},
  ) {
    for (const r of routes) this.add(r);
  }

  add(route: Route): this {
    const m = /^(.*\/):([a-z_]+)$/.exec(route.path);
    this.#rows.push({
      method: route.method,
      prefix: m ? m[1]! : route.path,
      param: m ? m[2]! : null,
      handler: route.handler,
    });
    return this;
  }

  /** Serves `router`'s rows beside this one's (same paths, no prefix). */
  include(router: Router): this {
    this.#rows.push(...router.#rows);
    this.#mounts.push(...router.#mounts);
    return this;
  }

  /** Serves `router`'s rows under `prefix` (its paths are relative to the prefix). */
  mount(prefix: string, router: Router): this {
    this.#mounts.push({ prefix: prefix.replace(/\/+$/, ''), router });
    return this;
  }

  /** Finds the handler, or answers not_found / method_not_allowed itself. */
  dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    ex: Exchange,
    path: string = ex.path,
  ): Promise<void> | void {
    for (const { prefix, router } of this.#mounts)
      if (path.startsWith(`${prefix}/`)) return router.dispatch(req, res, ex, path.slice(prefix.length));
    // HEAD is GET without the body (node:http drops it); probes and load balancers send it.
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    const allowed: Method[] = [];
    for (const row of this.#rows) {
      const params = match(row, path);
      if (!params) continue;
      if (row.method === method) {
        ex.params = params;
        return row.handler(req, res, ex);
      }
      allowed.push(row.method);
    }
    req.resume();
    if (allowed.length > 0) {
      res.setHeader('allow', allowed.join(', '));
      return sendError(
        res,
        gatewayError('method_not_allowed', `${ex.path} accepts ${allowed.join(', ')}, not ${method}.`),
        ex.requestId,
      );
    }
    return sendError(
      res,
      gatewayError(
        'not_found',
        this.opts.notFound?.(method, ex.path) ?? `No route for ${method} ${ex.path}.`,
      ),
      ex.requestId,
    );
  }
}

function match(row: Compiled, path: string): Readonly<Record<string, string>> | null {
  if (row.param === null) return path === row.prefix ? NO_PARAMS : null;
  if (!path.startsWith(row.prefix)) return null;
  const rest = path.slice(row.prefix.length);
  if (rest.length === 0 || rest.includes('/')) return null;
  let value: string;
  try {
    value = decodeURIComponent(rest);
  } catch {
    return null;
  }
  return { [row.param]: value };
}
