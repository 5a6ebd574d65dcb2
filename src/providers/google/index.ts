// Google's Gemini models, on Vertex AI (OAuth bearer, project + location in the path) and on the
// Gemini Developer API (API key). Same bodies, same SSE stream; only URL and auth differ.
//   Vertex: POST {base}/{v1}/projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent
//   Gemini: POST {base}/{v1beta}/models/{m}:generateContent, header x-goog-api-key
// Streams use :streamGenerateContent?alt=sse.
import type { AdapterTarget, ProviderAdapter } from '../spec/index.js';
import { vertexEmbeddings } from './embeddings.js';
import { parseGoogleError } from './errors.js';
import { toGenerateContentBody } from './request.js';
import { parseGenerateContentResponse } from './response.js';
import { createGeminiStreamMapper } from './stream.js';

function method(stream: boolean): string {
  return stream ? 'streamGenerateContent?alt=sse' : 'generateContent';
}

export function vertexPath(t: AdapterTarget, stream: boolean): string {
  const v = t.apiVersion ?? 'v1';
  const model = encodeURIComponent(t.deployment);
  const loc = encodeURIComponent(t.region ?? 'global');
  return `${t.basePath}/${v}/projects/${encodeURIComponent(t.project ?? '')}/locations/${loc}/publishers/google/models/${model}:${method(stream)}`;
}

export function geminiPath(t: AdapterTarget, stream: boolean): string {
  return `${t.basePath}/${t.apiVersion ?? 'v1beta'}/models/${encodeURIComponent(t.deployment)}:${method(stream)}`;
}

function googleAdapter(id: 'vertex' | 'gemini'): ProviderAdapter {
  return {
    id,
    streamFraming: 'sse',
    buildChatRequest(req, target) {
      const built = toGenerateContentBody(req, id);
      if ('unsupported' in built) return built;
      const stream = req.stream === true;
      const auth: Record<string, string> = !target.apiKey
        ? {}
        : id === 'vertex'
          ? { authorization: `Bearer ${target.apiKey}` }
          : { 'x-goog-api-key': target.apiKey };
      return {
        method: 'POST',
        path: id === 'vertex' ? vertexPath(target, stream) : geminiPath(target, stream),
        headers: { 'content-type': 'application/json', accept: 'application/json', ...auth },
        body: JSON.stringify(built.body),
        warnings: built.warnings,
      };
    },
    parseChatResponse: parseGenerateContentResponse,
    createStreamMapper: createGeminiStreamMapper,
    parseError: parseGoogleError,
    ...(id === 'vertex' ? { embeddings: vertexEmbeddings } : {}),
  };
}

export const vertexAdapter = googleAdapter('vertex');
export const geminiAdapter = googleAdapter('gemini');
export { createGeminiStreamMapper, parseGenerateContentResponse, parseGoogleError, toGenerateContentBody };
