// AWS Bedrock Runtime through the Converse API: POST /model/{modelId}/converse and
// /converse-stream (binary event stream), signed with SigV4, or a Bedrock API key as a bearer token.
// https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html
import type { ProviderAdapter } from '../spec/index.js';
import { titanEmbeddings } from './embeddings.js';
import { parseBedrockError } from './errors.js';
import { toConverseBody } from './request.js';
import { parseConverseResponse } from './response.js';
import { bedrockHeaders } from './sign-request.js';
import { signV4 } from './sign-v4.js';
import { createConverseStreamMapper } from './stream.js';

export const bedrockAdapter: ProviderAdapter = {
  id: 'bedrock',
  streamFraming: 'aws-eventstream',
  buildChatRequest(req, target) {
    const built = toConverseBody(req);
    if ('unsupported' in built) return built;
    const stream = req.stream === true;
    const path = `${target.basePath}/model/${encodeURIComponent(target.deployment)}/${stream ? 'converse-stream' : 'converse'}`;
    const body = JSON.stringify(
      target.serviceTier ? { ...built.body, serviceTier: { type: target.serviceTier } } : built.body,
    );
    const signed = bedrockHeaders(
      target,
      path,
      body,
      stream ? 'application/vnd.amazon.eventstream' : 'application/json',
    );
    if ('unsupported' in signed) return signed;
    const headers = signed.headers;
    return { method: 'POST', path, headers, body, warnings: built.warnings };
  },
  parseChatResponse: parseConverseResponse,
  createStreamMapper: createConverseStreamMapper,
  parseError: parseBedrockError,
  embeddings: titanEmbeddings,
};

export { createConverseStreamMapper, parseBedrockError, parseConverseResponse, signV4, toConverseBody };
