// The OpenAI provider; it also serves any OpenAI-compatible server (vLLM, Ollama, ...).
import type { ProviderAdapter } from '../spec/index.js';
import { authHeaders, chatPath } from './api.js';
import { openaiFamilyEmbeddings } from './embeddings.js';
import { parseOpenAIError } from './errors.js';
import { toOpenAIBody } from './request.js';
import { parseOpenAIChatResponse } from './response.js';
import { createOpenAIStreamMapper } from './stream.js';

export const openaiAdapter: ProviderAdapter = {
  id: 'openai',
  streamFraming: 'sse',
  buildChatRequest(req, target) {
    return {
      method: 'POST',
      path: chatPath(target),
      headers: { 'content-type': 'application/json', accept: 'application/json', ...authHeaders(target) },
      body: toOpenAIBody(req, target.deployment),
    };
  },
  parseChatResponse: parseOpenAIChatResponse,
  createStreamMapper: createOpenAIStreamMapper,
  parseError: parseOpenAIError,
  embeddings: openaiFamilyEmbeddings((t) => `${t.basePath}/embeddings`, authHeaders),
};

export { openaiFamilyEmbeddings } from './embeddings.js';
export { createOpenAIStreamMapper, parseOpenAIChatResponse, parseOpenAIError, toOpenAIBody };
