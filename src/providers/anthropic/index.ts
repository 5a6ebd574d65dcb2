// Claude through the Anthropic Messages API, first-party and as hosted on Vertex AI and Bedrock:
//   anthropic:          POST {base}/v1/messages, anthropic-version header, x-api-key or Bearer
//   anthropic-vertex:   POST {base}/v1/projects/{p}/locations/{l}/publishers/anthropic/models/{m}:rawPredict
//                       (:streamRawPredict), anthropic_version in the body, OAuth bearer
//   anthropic-bedrock:  POST {base}/model/{id}/invoke (/invoke-with-response-stream), body field
//                       anthropic_version, SigV4; the stream is AWS event-stream `chunk` messages
import { parseBedrockError } from '../bedrock/errors.js';
import { bedrockHeaders } from '../bedrock/sign-request.js';
import type { ProviderAdapter } from '../spec/index.js';
import { parseAnthropicError } from './errors.js';
import { NEW_API_VERSION, toMessagesBody } from './request.js';
import { parseMessagesResponse } from './response.js';
import { createBedrockClaudeStreamMapper, createMessagesStreamMapper } from './stream.js';

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json' };

export const anthropicAdapter: ProviderAdapter = {
  id: 'anthropic',
  streamFraming: 'sse',
  buildChatRequest(req, target) {
    const version = target.anthropicVersion ?? '2023-06-01';
    const built = toMessagesBody(req, version);
    if ('unsupported' in built) return built;
    const auth: Record<string, string> = !target.apiKey
      ? {}
      : version === NEW_API_VERSION
        ? { authorization: `Bearer ${target.apiKey}` }
        : { 'x-api-key': target.apiKey };
    return {
      method: 'POST',
      path: `${target.basePath}/v1/messages`,
      headers: { ...JSON_HEADERS, 'anthropic-version': version, ...auth },
      body: JSON.stringify({
        model: target.deployment,
        ...built.body,
        ...(req.stream ? { stream: true } : {}),
      }),
      warnings: built.warnings,
    };
  },
  parseChatResponse: parseMessagesResponse,
  createStreamMapper: createMessagesStreamMapper,
  parseError: parseAnthropicError,
};

export const anthropicVertexAdapter: ProviderAdapter = {
  id: 'anthropic-vertex',
  streamFraming: 'sse',
  buildChatRequest(req, target) {
    const version = target.anthropicVersion ?? 'vertex-2023-10-16';
    const built = toMessagesBody(req, version);
    if ('unsupported' in built) return built;
    const stream = req.stream === true;
    const path = `${target.basePath}/v1/projects/${encodeURIComponent(target.project ?? '')}/locations/${encodeURIComponent(target.region ?? 'global')}/publishers/anthropic/models/${encodeURIComponent(target.deployment)}:${stream ? 'streamRawPredict' : 'rawPredict'}`;
    return {
      method: 'POST',
      path,
      headers: { ...JSON_HEADERS, ...(target.apiKey ? { authorization: `Bearer ${target.apiKey}` } : {}) },
      body: JSON.stringify({
        anthropic_version: version,
        ...built.body,
        ...(stream ? { stream: true } : {}),
      }),
      warnings: built.warnings,
    };
  },
  parseChatResponse: parseMessagesResponse,
  createStreamMapper: createMessagesStreamMapper,
  parseError: parseAnthropicError,
};

export const anthropicBedrockAdapter: ProviderAdapter = {
  id: 'anthropic-bedrock',
  streamFraming: 'aws-eventstream',
  buildChatRequest(req, target) {
    const version = target.anthropicVersion ?? 'bedrock-2023-05-31';
    const built = toMessagesBody(req, version);
    if ('unsupported' in built) return built;
    const stream = req.stream === true;
    const path = `${target.basePath}/model/${encodeURIComponent(target.deployment)}/${stream ? 'invoke-with-response-stream' : 'invoke'}`;
    const body = JSON.stringify({ anthropic_version: version, ...built.body });
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
  parseChatResponse: parseMessagesResponse,
  createStreamMapper: createBedrockClaudeStreamMapper,
  parseError: parseBedrockError,
};

export { createMessagesStreamMapper, parseAnthropicError, parseMessagesResponse, toMessagesBody };
