// The worst case of a request, before it is sent: how many tokens it can use at most. Limits
// reserve this and settle to the real figure after, so the worst case must never be below the
// real one, whichever cloud's tokenizer counts it.
//
// Prompt tokens: every tokenizer the clouds use (byte-level BPE for OpenAI, Anthropic and Llama;
// SentencePiece with byte fallback for Gemini) emits at most one token per UTF-8 byte of text, so
// the byte length of every string the model reads, plus each message's framing (OpenAI documents
// 3 tokens per message and 3 to prime the reply; 4 is reserved here), is an upper bound. An image
// is bounded by IMAGE_TOKENS (OpenAI's high-detail tiling of a 2048 × 768 image is 1,105 tokens).
// Output tokens: max_completion_tokens (or max_tokens) × n choices; a request without either is
// sent with the configured default, so its output is bounded too.
import type { ChatRequest, EmbeddingsRequest } from '../canonical/index.js';

const PER_MESSAGE = 4;
const PRIMING = 3;
const IMAGE_TOKENS = 1_600;
/** Audio and files: bounded by their payload's byte length (base64 carries 3 bytes in 4 chars). */

function bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function contentBytes(content: unknown): number {
  if (typeof content === 'string') return bytes(content);
  if (!Array.isArray(content)) return 0;
  let n = 0;
  for (const p of content as { type?: string; text?: string; refusal?: string }[]) {
    if (p.type === 'text' && typeof p.text === 'string') n += bytes(p.text);
    else if (p.type === 'refusal' && typeof p.refusal === 'string') n += bytes(p.refusal);
    else if (p.type === 'image_url') n += IMAGE_TOKENS;
    else n += bytes(JSON.stringify(p));
  }
  return n;
}

/** An upper bound of the prompt tokens of a chat request, for every cloud's tokenizer. */
export function promptTokensBound(chat: ChatRequest): number {
  let n = PRIMING;
  for (const m of chat.messages) {
    n += PER_MESSAGE + bytes(m.role) + contentBytes(m.content);
    const x = m as { name?: string; tool_calls?: unknown; function_call?: unknown; tool_call_id?: string };
    if (x.name) n += bytes(x.name);
    if (x.tool_calls) n += bytes(JSON.stringify(x.tool_calls));
    if (x.function_call) n += bytes(JSON.stringify(x.function_call));
    if (x.tool_call_id) n += bytes(x.tool_call_id);
  }
  if (chat.tools) n += bytes(JSON.stringify(chat.tools));
  if (chat.response_format) n += bytes(JSON.stringify(chat.response_format));
  return n;
}

/** An upper bound of the input tokens of an embeddings request (token arrays are counted as given). */
export function embeddingTokensBound(req: EmbeddingsRequest): number {
  const input = req.input;
  if (typeof input === 'string') return bytes(input);
  let n = 0;
  for (const x of input as unknown[]) {
    if (typeof x === 'string') n += bytes(x);
    else if (typeof x === 'number') n += 1;
    else if (Array.isArray(x)) n += x.length;
  }
  return n;
}

/**
 * The most output tokens a chat request can produce: what it asks for, or `defaultMaxTokens` when
 * it asks for nothing (then `applied` is that default, to send upstream), times n choices.
 */
export function outputTokensBound(
  chat: ChatRequest,
  defaultMaxTokens: number,
): { tokens: number; applied: number | null } {
  const asked = chat.max_completion_tokens ?? chat.max_tokens ?? null;
  const n = chat.n ?? 1;
  if (asked !== null) return { tokens: asked * n, applied: null };
  if (defaultMaxTokens === 0) return { tokens: 0, applied: null };
  return { tokens: defaultMaxTokens * n, applied: defaultMaxTokens };
}
