// AWS Bedrock Runtime through the Converse API: POST /model/{modelId}/converse and
// /converse-stream (binary event stream), signed with SigV4, or a Bedrock API key as a bearer token.
// https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html
import type { ProviderAdapter } from '../spec/index.js';
import { unsupported } from '../spec/index.js';
import { parseBedrockError } from './errors.js';
import { toConverseBody } from './request.js';
import { parseConverseResponse } from './response.js';
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
    const body = JSON.stringify(built.body);
    const base: Record<string, string> = {
      'content-type': 'application/json',
      accept: stream ? 'application/vnd.amazon.eventstream' : 'application/json',
    };
    let headers: Record<string, string>;
    if (target.aws) {
      headers = {
        ...base,
        ...signV4({
          method: 'POST',
          path,
          host: target.host ?? '',
          headers: base,
          body,
          region: target.region ?? 'us-east-1',
          service: 'bedrock',
          credentials: target.aws,
          nowMs: (target.nowMs ?? Date.now)(),
        }),
      };
    } else if (target.apiKey) {
      headers = { ...base, authorization: `Bearer ${target.apiKey}` };
    } else {
      return unsupported('model', 'This Bedrock upstream has neither AWS credentials nor an API key.');
    }
    return { method: 'POST', path, headers, body, warnings: built.warnings };
  },
  parseChatResponse: parseConverseResponse,
  createStreamMapper: createConverseStreamMapper,
  parseError: parseBedrockError,
};

export { createConverseStreamMapper, parseBedrockError, parseConverseResponse, signV4, toConverseBody };
