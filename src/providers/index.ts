import { azureOpenAIAdapter } from './azure-openai/index.js';
import { openaiAdapter } from './openai/index.js';
import type { ProviderAdapter } from './spec/index.js';

export const adapters: Readonly<Record<'openai' | 'azure-openai', ProviderAdapter>> = Object.freeze({
  openai: openaiAdapter,
  'azure-openai': azureOpenAIAdapter,
});

export * from './spec/index.js';
