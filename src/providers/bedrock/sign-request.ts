// The headers of one Bedrock request: SigV4 when the upstream has AWS credentials, else a
// Bedrock API key as a bearer token.

import { systemClock } from '../../clock/index.js';
import type { AdapterTarget, Unsupported } from '../spec/index.js';
import { unsupported } from '../spec/index.js';
import { signV4 } from './sign-v4.js';

export function bedrockHeaders(
  target: AdapterTarget,
  path: string,
  body: string,
  accept: string,
): { readonly headers: Record<string, string> } | Unsupported {
  const base = { 'content-type': 'application/json', accept };
  if (target.aws) {
    const signed = signV4({
      method: 'POST',
      path,
      host: target.host ?? '',
      headers: base,
      body,
      region: target.region ?? 'us-east-1',
      service: 'bedrock',
      credentials: target.aws,
      nowMs: (target.nowMs ?? systemClock.now)(),
    });
    signed['content-type'] = base['content-type'];
    signed.accept = accept;
    return { headers: signed };
  }
  if (target.apiKey) return { headers: { ...base, authorization: `Bearer ${target.apiKey}` } };
  return unsupported('model', 'This Bedrock upstream has neither AWS credentials nor an API key.');
}
