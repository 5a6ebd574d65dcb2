// Admission: who is calling (the API key), and whether the model they ask for may be served to
// them now: in the catalog, allowed for the key, licensed under the agreement in force, priced.
// Each refusal is a coded error value; the handler ends the request with it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Surface } from '../agreements/index.js';
import { type GatewayError, gatewayError } from '../errors/index.js';
import { presentedKey, sendError } from '../http/index.js';
import { priceOf } from '../ledger/index.js';
import type { CatalogDeployment, RouteEntry } from '../routing/index.js';
import { type Caller, mayCall } from './auth.js';
import type { GatewayContext } from './context.js';
import type { Asked } from './request-state.js';

/**
 * Whether the gateway can take the request at all: when the usage spool's backlog is over its
 * limit, a request is refused (503, retryable) rather than served without a record.
 */
export function admitLoad(
  gw: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
): boolean {
  if (!gw.usageLog.full) return true;
  req.resume();
  sendError(res, gatewayError('usage_backlog_full'), requestId);
  return false;
}

/**
 * The caller behind the request's API key; without a known key the client has its 401 and null
 * comes back (no usage record: there is no tenant to charge).
 */
export function authenticate(
  gw: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
): Caller | null {
  const key = presentedKey(req.headers);
  const caller = key ? gw.keys.lookup(key, gw.clock.now()) : null;
  if (caller) return caller;
  req.resume();
  sendError(
    res,
    key
      ? gatewayError(
          'invalid_api_key',
          'Incorrect API key provided. Keys are issued with `entente keys create`.',
        )
      : gatewayError('missing_api_key'),
    requestId,
  );
  return null;
}

export interface Admitted {
  readonly model: RouteEntry;
  /** Whether the agreement gated this call (a licensee's key) and allowed it. */
  readonly licensed: boolean;
  /** The deployments the route table allows whose model version is priced (all, when pricing is off). */
  readonly priced: readonly CatalogDeployment[];
}

/** The route-table entry for the asked model, if this caller may have it served now. */
export function admitModel(
  gw: GatewayContext,
  caller: Caller,
  asked: Asked,
  atMs: number,
  surface: Surface,
): Admitted | GatewayError {
  const model = gw.routes.table.entryFor(asked.model, caller.tenantId);
  if (!model)
    return gatewayError(
      'model_not_found',
      `The model '${asked.model}' does not exist in this gateway's catalog.`,
      {
        param: 'model',
      },
    );
  if (!mayCall(caller, model.name))
    return gatewayError('model_not_allowed', `This API key may not call the model '${model.name}'.`, {
      param: 'model',
    });
  // The agreement: a licensee's key reaches only licensed models within the term, decided by
  // the version in force now (precomputed in the route table).
  const decision = gw.routes.table.licence(gw.licenseeOf.get(caller.tenantId) ?? null, model.name, surface);
  if (decision && !decision.allowed)
    return gatewayError(decision.reason, decision.message, { param: 'model' });
  if (model.deployments.length === 0) {
    const first = model.excluded[0];
    const why = model.excluded.map((x) => `${x.deployment.key}: ${x.reason}`).join('; ');
    return first
      ? gatewayError(first.code, `No deployment of '${model.name}' may serve under the agreement: ${why}`, {
          param: 'model',
        })
      : gatewayError('model_not_found', `The model '${model.name}' has no deployment.`, { param: 'model' });
  }
  // Fail closed on price: never serve what the ledger could not bill.
  const books = gw.refuseUnpriced ? gw.priceBooks : null;
  let priced = model.deployments;
  if (books && !priced.every((d) => priceOf(books, model.name, d.modelVersion, atMs) !== null))
    priced = priced.filter((d) => priceOf(books, model.name, d.modelVersion, atMs) !== null);
  if (priced.length === 0)
    return gatewayError(
      'model_unpriced',
      `No price book prices '${model.name}' (${[...new Set(model.deployments.map((d) => d.modelVersion))].join(', ')}); refusing rather than serving it unbilled.`,
      { param: 'model' },
    );
  return { model, licensed: decision !== null, priced };
}

export function isAdmitted(x: Admitted | GatewayError): x is Admitted {
  return (x as Admitted).model !== undefined;
}
