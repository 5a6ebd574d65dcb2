// OpenAI's URL and auth: POST {base}/chat/completions with `Authorization: Bearer <key>`.
// https://platform.openai.com/docs/api-reference/authentication
import type { AdapterTarget } from '../spec/index.js';

export function chatPath(target: AdapterTarget): string {
  return `${target.basePath}/chat/completions`;
}

export function authHeaders(target: AdapterTarget): Record<string, string> {
  return target.apiKey ? { authorization: `Bearer ${target.apiKey}` } : {};
}
