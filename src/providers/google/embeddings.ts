// Embeddings on Vertex AI: POST …/publishers/google/models/{m}:predict
//   {"instances":[{"content"}],"parameters":{"outputDimensionality"?}}
//   → {"predictions":[{"embeddings":{"values":[…],"statistics":{"token_count"}}}]}
// https://cloud.google.com/vertex-ai/generative-ai/docs/model-reference/text-embeddings-api
import { inputTexts } from '../../canonical/index.js';
import {
  type AdapterTarget,
  badResponse,
  type EmbeddingsAdapter,
  embeddingsBody,
  unsupported,
} from '../spec/index.js';

const decoder = new TextDecoder();

export function vertexPredictPath(t: AdapterTarget): string {
  return `${t.basePath}/${t.apiVersion ?? 'v1'}/projects/${encodeURIComponent(t.project ?? '')}/locations/${encodeURIComponent(t.region ?? 'global')}/publishers/google/models/${encodeURIComponent(t.deployment)}:predict`;
}

export const vertexEmbeddings: EmbeddingsAdapter = {
  build(req, target) {
    const texts = inputTexts(req);
    if (!texts) return unsupported('input', 'Vertex AI embeds text, not token arrays.');
    if (texts.length > 250) return unsupported('input', 'Vertex AI embeds at most 250 texts per request.');
    return {
      method: 'POST',
      path: vertexPredictPath(target),
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        ...(target.apiKey ? { authorization: `Bearer ${target.apiKey}` } : {}),
      },
      body: JSON.stringify({
        instances: texts.map((content) => ({ content })),
        ...(req.dimensions ? { parameters: { outputDimensionality: req.dimensions } } : {}),
      }),
    };
  },
  parse(body, req, ctx) {
    let json: {
      predictions?: { embeddings?: { values?: unknown; statistics?: { token_count?: unknown } } }[];
    };
    try {
      json = JSON.parse(decoder.decode(body)) as typeof json;
    } catch {
      return badResponse('Vertex AI sent predictions that are not valid JSON');
    }
    if (!Array.isArray(json?.predictions)) return badResponse('Vertex AI sent an answer without predictions');
    const vectors: number[][] = [];
    let tokens = 0;
    for (const p of json.predictions) {
      const v = p?.embeddings?.values;
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'number'))
        return badResponse('Vertex AI sent a prediction without embedding values');
      vectors.push(v as number[]);
      const t = p.embeddings?.statistics?.token_count;
      if (typeof t === 'number' && Number.isSafeInteger(t) && t >= 0) tokens += t;
    }
    return { body: embeddingsBody(req, ctx, vectors, tokens), tokensInput: tokens };
  },
};
