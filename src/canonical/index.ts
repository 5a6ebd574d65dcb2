export type { ChatMessage, ChatRequest, RequestValidationFailure } from './chat-request.js';
export { chatRequestSchema, parseChatRequest } from './chat-request.js';
export type { EmbeddingsRequest } from './embeddings-request.js';
export { embeddingsRequestSchema, inputTexts, parseEmbeddingsRequest } from './embeddings-request.js';
export type { TokenUsage } from './usage.js';
export { estimatePromptTokens, totalTokens, usageFromOpenAI, zeroUsage } from './usage.js';
