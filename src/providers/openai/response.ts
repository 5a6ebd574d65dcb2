// OpenAI chat.completion → canonical. The body is passed to the client byte for byte; it is
// parsed only to check its shape and to read the usage and the finish reason.
import { usageFromOpenAI } from '../../canonical/index.js';
import { badResponse, type ChatResult, tierOf, type UpstreamFailure } from '../spec/index.js';

const decoder = new TextDecoder();

export function parseOpenAIChatResponse(body: Uint8Array): ChatResult | UpstreamFailure {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(body));
  } catch {
    return badResponse('the upstream sent a chat completion that is not valid JSON');
  }
  const obj = json as { choices?: unknown; usage?: unknown; service_tier?: unknown };
  if (typeof json !== 'object' || json === null || !Array.isArray(obj.choices)) {
    return badResponse('the upstream sent a chat completion without a choices array');
  }
  const first = obj.choices[0] as { finish_reason?: unknown } | undefined;
  return {
    body,
    usage: usageFromOpenAI(obj.usage),
    finishReason: typeof first?.finish_reason === 'string' ? first.finish_reason : null,
    ...tierOf(obj.service_tier),
  };
}
