// Embeddings on Bedrock with Amazon Titan Text Embeddings (InvokeModel):
//   POST /model/{id}/invoke  {"inputText","dimensions"?,"normalize":true} → {"embedding":[…],"inputTextTokenCount"}
// https://docs.aws.amazon.com/bedrock/latest/userguide/titan-embedding-models.html
// Titan takes one text per call; OpenAI's embeddings are unit length, hence normalize.
import { inputTexts } from '../../canonical/index.js';
import { badResponse, type EmbeddingsAdapter, embeddingsBody, unsupported } from '../spec/index.js';
import { bedrockHeaders } from './sign-request.js';

const decoder = new TextDecoder();

export const titanEmbeddings: EmbeddingsAdapter = {
  build(req, target) {
    const texts = inputTexts(req);
    if (!texts) return unsupported('input', 'Bedrock embeds text, not token arrays.');
    if (texts.length !== 1)
      return unsupported('input', 'Bedrock Titan embeds one text per request; send a single input.');
    const path = `${target.basePath}/model/${encodeURIComponent(target.deployment)}/invoke`;
    const body = JSON.stringify({
      inputText: texts[0],
      ...(req.dimensions ? { dimensions: req.dimensions } : {}),
      normalize: true,
    });
    const signed = bedrockHeaders(target, path, body, 'application/json');
    if ('unsupported' in signed) return signed;
    const headers = signed.headers;
    return { method: 'POST', path, headers, body };
  },
  parse(body, req, ctx) {
    let json: { embedding?: unknown; inputTextTokenCount?: unknown };
    try {
      json = JSON.parse(decoder.decode(body)) as typeof json;
    } catch {
      return badResponse('Bedrock sent an embedding that is not valid JSON');
    }
    const v = json?.embedding;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number'))
      return badResponse('Bedrock sent an answer without an embedding');
    const t = json.inputTextTokenCount;
    const tokens = typeof t === 'number' && Number.isSafeInteger(t) && t >= 0 ? t : null;
    return { body: embeddingsBody(req, ctx, [v as number[]], tokens ?? 0), tokensInput: tokens };
  },
};
