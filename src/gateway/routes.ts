// The OpenAI API's route table.
import { Router } from '../http/index.js';
import type { GatewayContext } from './context.js';
import { chatHandler } from './handle-chat.js';
import { embeddingsHandler } from './handle-embeddings.js';
import { modelsHandler } from './handle-models.js';

export function openaiRoutes(gw: GatewayContext): Router {
  return new Router(
    [
      { method: 'POST', path: '/v1/chat/completions', handler: chatHandler(gw, 'chat') },
      { method: 'POST', path: '/v1/responses', handler: chatHandler(gw, 'responses') },
      { method: 'POST', path: '/v1/embeddings', handler: embeddingsHandler(gw) },
      { method: 'GET', path: '/v1/models', handler: modelsHandler(gw, 'list') },
      { method: 'GET', path: '/v1/models/:id', handler: modelsHandler(gw, 'one') },
    ],
    {
      notFound: (method, path) =>
        `No route for ${method} ${path}. Entente serves POST /v1/chat/completions, POST /v1/responses, POST /v1/embeddings and GET /v1/models.`,
    },
  );
}
