// The provider ids an upstream's `provider` may name. A module of its own so that the config
// schema can validate them without loading any adapter.
export const PROVIDER_IDS = [
  'azure-openai',
  'openai',
  'bedrock',
  'vertex',
  'gemini',
  'anthropic',
  'anthropic-vertex',
  'anthropic-bedrock',
] as const;

export type ProviderId = (typeof PROVIDER_IDS)[number];
