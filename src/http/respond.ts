// Writing responses: JSON bodies, and errors in the OpenAI shape with the request id.
import type { ServerResponse } from 'node:http';
import { errorBody, errorCatalogue, errorStatus, type GatewayError } from '../errors/index.js';

/**
 * Sends a whole body (JSON unless `headers` names another content-type). `headers` is the
 * caller's fresh object and is completed in place: a spread into a new one cost a visible part of
 * a served request.
 */
export function sendJsonBytes(
  res: ServerResponse,
  status: number,
  body: string | Uint8Array,
  headers: Record<string, string | number>,
): void {
  if (res.headersSent || res.destroyed) return;
  headers['content-type'] ??= 'application/json';
  headers['content-length'] = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
  res.writeHead(status, headers);
  res.end(body);
}

export function sendJson(res: ServerResponse, status: number, value: unknown, requestId: string): void {
  sendJsonBytes(res, status, JSON.stringify(value), { 'x-request-id': requestId });
}

/**
 * Sends a coded error. `upstreamCode` replaces the code on the wire when an upstream's own code
 * is what clients switch on (Azure's `content_filter`); the catalogue code stays in the usage log.
 */
export function sendError(
  res: ServerResponse,
  err: GatewayError,
  requestId: string,
  upstreamCode?: string,
): void {
  const spec = errorCatalogue[err.code];
  const body = errorBody(err, upstreamCode);
  // The rest of an oversized body is never read: the connection cannot carry another request.
  if (err.code === 'body_too_large' && !res.headersSent) res.setHeader('connection', 'close');
  const headers: Record<string, string> = { 'x-request-id': requestId, 'x-entente-error-code': err.code };
  if (err.retryAfterS !== undefined) headers['retry-after'] = String(err.retryAfterS);
  // Tell the official SDKs whether their automatic retry can help.
  headers['x-should-retry'] = spec.retryable ? 'true' : 'false';
  sendJsonBytes(res, errorStatus(err), body, headers);
}
