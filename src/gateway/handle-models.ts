// GET /v1/models and GET /v1/models/{id}: the models this key may call and is licensed for now.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gatewayError } from '../errors/index.js';
import { type Exchange, sendError, sendJson } from '../http/index.js';
import { authenticate } from './admit.js';
import { mayCall } from './auth.js';
import type { GatewayContext } from './context.js';

export function modelsHandler(gw: GatewayContext, which: 'list' | 'one') {
  // OpenAI's `created`: a fixed instant per process (the catalog has no creation times).
  const createdS = Math.floor(gw.clock.now() / 1000);
  const toModel = (m: { name: string; ownedBy: string }) => ({
    id: m.name,
    object: 'model',
    created: createdS,
    owned_by: m.ownedBy,
  });
  return (req: IncomingMessage, res: ServerResponse, ex: Exchange) => {
    const caller = authenticate(gw, req, res, ex.requestId);
    if (!caller) return;
    req.resume();
    const table = gw.routes.table;
    const licensee = gw.licenseeOf.get(caller.tenantId) ?? null;
    const visible = [...gw.catalog.values()].filter(
      (m) => mayCall(caller, m.name) && (table.licence(licensee, m.name)?.allowed ?? true),
    );
    if (which === 'list')
      return sendJson(res, 200, { object: 'list', data: visible.map(toModel) }, ex.requestId);
    const id = ex.params.id ?? '';
    const m = visible.find((v) => v.name === id);
    if (m) return sendJson(res, 200, toModel(m), ex.requestId);
    sendError(
      res,
      gatewayError('model_not_found', `The model '${id}' does not exist or this key may not use it.`, {
        param: 'model',
      }),
      ex.requestId,
    );
  };
}
