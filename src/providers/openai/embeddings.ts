// POST {base}/embeddings on OpenAI and Azure: the body goes through with the deployment as model;
// the answer is already OpenAI's, read only for its usage.
import type { AdapterTarget, EmbeddingsAdapter } from '../spec/index.js';
import { badResponse } from '../spec/index.js';

const decoder = new TextDecoder();

export function openaiFamilyEmbeddings(
  path: (t: AdapterTarget) => string,
  auth: (t: AdapterTarget) => Record<string, string>,
): EmbeddingsAdapter {
  return {
    build(req, target) {
      return {
        method: 'POST',
        path: path(target),
        headers: { 'content-type': 'application/json', accept: 'application/json', ...auth(target) },
        body: JSON.stringify({ ...req, model: target.deployment }),
      };
    },
    parse(body) {
      let json: { data?: unknown; usage?: { prompt_tokens?: unknown } };
      try {
        json = JSON.parse(decoder.decode(body)) as typeof json;
      } catch {
        return badResponse('the upstream sent an embeddings answer that is not valid JSON');
      }
      if (!Array.isArray(json?.data))
        return badResponse('the upstream sent an embeddings answer without data');
      const t = json.usage?.prompt_tokens;
      return { body, tokensInput: typeof t === 'number' && Number.isSafeInteger(t) && t >= 0 ? t : null };
    },
  };
}
