// OpenAI's embeddings list body, for adapters that translate (Bedrock, Vertex). `base64` is what
// the official SDK asks for by default: little-endian float32 values, base64-encoded.
import type { EmbeddingsRequest } from '../../canonical/index.js';
import type { ResponseContext } from './adapter.js';

function base64Of(v: readonly number[]): string {
  const f = new Float32Array(v);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength).toString('base64');
}

export function embeddingsBody(
  req: EmbeddingsRequest,
  ctx: ResponseContext,
  vectors: readonly (readonly number[])[],
  tokens: number,
): string {
  const b64 = req.encoding_format === 'base64';
  return JSON.stringify({
    object: 'list',
    data: vectors.map((v, index) => ({ object: 'embedding', index, embedding: b64 ? base64Of(v) : v })),
    model: ctx.model,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  });
}
