// Azure OpenAI's URL shapes and auth (providers.md 3.1, 3.2):
//   classic: POST {endpoint}/openai/deployments/{deployment}/chat/completions?api-version=V, api-key header
//   v1:      POST {endpoint}/openai/v1/chat/completions, model = deployment in the body, Bearer key
// https://learn.microsoft.com/azure/ai-foundry/openai/reference and .../api-version-lifecycle
import type { AdapterTarget } from '../spec/index.js';

export function chatPath(target: AdapterTarget): string {
  if (target.azurePathStyle === 'v1') return `${target.basePath}/openai/v1/chat/completions`;
  return `${target.basePath}/openai/deployments/${encodeURIComponent(target.deployment)}/chat/completions?api-version=${encodeURIComponent(target.apiVersion ?? '')}`;
}

export function embeddingsPath(target: AdapterTarget): string {
  if (target.azurePathStyle === 'v1') return `${target.basePath}/openai/v1/embeddings`;
  return `${target.basePath}/openai/deployments/${encodeURIComponent(target.deployment)}/embeddings?api-version=${encodeURIComponent(target.apiVersion ?? '')}`;
}

export function authHeaders(target: AdapterTarget): Record<string, string> {
  if (!target.apiKey) return {};
  return target.azurePathStyle === 'v1'
    ? { authorization: `Bearer ${target.apiKey}` }
    : { 'api-key': target.apiKey };
}
