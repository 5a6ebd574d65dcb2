import type { ProviderId } from '../provider-ids/index.js';
import { anthropicAdapter, anthropicBedrockAdapter, anthropicVertexAdapter } from './anthropic/index.js';
import { azureOpenAIAdapter } from './azure-openai/index.js';
import { bedrockAdapter } from './bedrock/index.js';
import { geminiAdapter, vertexAdapter } from './google/index.js';
import { openaiAdapter } from './openai/index.js';
import type { ProviderAdapter } from './spec/index.js';

export type { ProviderId } from '../provider-ids/index.js';
export { PROVIDER_IDS } from '../provider-ids/index.js';

export const adapters: Readonly<Record<ProviderId, ProviderAdapter>> = Object.freeze({
  openai: openaiAdapter,
  'azure-openai': azureOpenAIAdapter,
  bedrock: bedrockAdapter,
  vertex: vertexAdapter,
  gemini: geminiAdapter,
  anthropic: anthropicAdapter,
  'anthropic-vertex': anthropicVertexAdapter,
  'anthropic-bedrock': anthropicBedrockAdapter,
});

export { signV4 } from './bedrock/sign-v4.js';
export * from './spec/index.js';
