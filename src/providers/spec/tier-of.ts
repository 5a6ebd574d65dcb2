// The capacity tier a cloud says served a request, read from its answer in its own words
// (OpenAI's and Anthropic's `service_tier`, Bedrock's `serviceTier.type`, Vertex's
// `usageMetadata.trafficType`). Only a short token is kept: it goes into usage records and logs.

export function tierOf(v: unknown): { tier?: string } {
  return typeof v === 'string' && /^[A-Za-z0-9_.-]{1,40}$/.test(v) ? { tier: v } : {};
}
