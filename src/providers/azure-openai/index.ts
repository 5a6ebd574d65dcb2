// Azure OpenAI: OpenAI's bodies and stream on Azure's URLs and auth. Responses and streams are
// read by the OpenAI mappers, which drop Azure's leading prompt-filter chunk.
import {
  createOpenAIStreamMapper,
  openaiFamilyEmbeddings,
  parseOpenAIChatResponse,
  parseOpenAIError,
  toOpenAIBody,
} from '../openai/index.js';
import type { ProviderAdapter } from '../spec/index.js';
import { authHeaders, chatPath, embeddingsPath } from './api.js';

export const azureOpenAIAdapter: ProviderAdapter = {
  id: 'azure-openai',
  streamFraming: 'sse',
  buildChatRequest(req, target) {
    return {
      method: 'POST',
      path: chatPath(target),
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        ...authHeaders(target),
        // A PTU deployment full at Azure spills to this standard deployment in the same round trip.
        ...(target.spilloverDeployment ? { 'x-ms-spillover-deployment': target.spilloverDeployment } : {}),
      },
      // Classic Azure ignores body.model; v1 reads the deployment from it.
      body: toOpenAIBody(req, target.deployment),
    };
  },
  parseChatResponse: parseOpenAIChatResponse,
  createStreamMapper: createOpenAIStreamMapper,
  parseError: parseOpenAIError,
  embeddings: openaiFamilyEmbeddings(embeddingsPath, authHeaders),
};
