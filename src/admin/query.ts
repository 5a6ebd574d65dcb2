// What the admin API's handlers share about their requests' query: refusing a bad value with the
// coded 400 that names it, and the `limit` / `after` of a listing read a page at a time.
import type { ServerResponse } from 'node:http';
import { gatewayError } from '../errors/index.js';
import { type Exchange, sendError } from '../http/index.js';

/** A coded 400 `invalid_request` naming the parameter (or body field) at fault. */
export function refuse(
  res: ServerResponse,
  ex: Exchange,
  message: string,
  param: string | null = null,
): void {
  sendError(res, gatewayError('invalid_request', message, { param }), ex.requestId);
}

/**
 * A count parameter: a whole number from 1 to `max` (at most 4 digits, no sign, exponent or
 * fraction), or `fallback` when absent. null once refused.
 */
export function countOf(
  res: ServerResponse,
  ex: Exchange,
  name: string,
  p: { readonly fallback: number; readonly max: number },
): number | null {
  const text = ex.query.get(name);
  const n = text === null ? p.fallback : Number(text);
  if ((text !== null && !/^\d{1,4}$/.test(text)) || n < 1 || n > p.max) {
    refuse(res, ex, `${name} must be a whole number from 1 to ${p.max}`, name);
    return null;
  }
  return n;
}

/**
 * A listing's page: `limit` (a whole number from 1 to `max`, or `fallback` when absent) and
 * `after` (the last id of the page before, which must match `id`). null once refused.
 */
export function pageOf(
  res: ServerResponse,
  ex: Exchange,
  p: { readonly fallback: number; readonly max: number; readonly id: RegExp; readonly idIs: string },
): { readonly limit: number; readonly after: string | null } | null {
  const limit = countOf(res, ex, 'limit', p);
  if (limit === null) return null;
  const after = ex.query.get('after');
  if (after !== null && !p.id.test(after)) {
    refuse(res, ex, `after must be ${p.idIs} (the next of a page)`, 'after');
    return null;
  }
  return { limit, after };
}
