// What every simulator shares: the faults it can be told to apply, its settings, and the record
// of a request it received.

export type FaultKind =
  | 'rate_limit' // 429 with retry-after
  | 'server_error' // 500
  | 'unavailable' // 503
  | 'hang' // accept the request, never answer
  | 'stall' // OpenAI family, streams: send the 200 and its headers, then nothing
  | 'cut' // streams: cut the connection after `afterChunks` content chunks; JSON: cut mid-body
  | 'reset' // destroy the socket before any response
  | 'content_filter' // Azure: 400 content_filter for the prompt
  | 'stream_error'; // streams: the cloud's own in-stream error event after `afterChunks` chunks

export interface Fault {
  readonly kind: FaultKind;
  /** How many requests the fault applies to; omitted = every request until cleared. */
  readonly count?: number;
  readonly retryAfterS?: number;
  readonly afterChunks?: number;
}

export interface SimSettings {
  latencyMs: number;
  /**
   * Provisioned capacity in tokens per minute, metered as the cloud does (a leaky bucket over the
   * last 60 s: admitted below 100%, counted at actual tokens), keyed and answered per cloud:
   * - Azure: by deployment (PTU). When full, 429 with retry-after-ms, unless the request names a
   *   spill-over deployment (x-ms-spillover-deployment), which serves it and the answer says so
   *   (x-ms-spillover-from-<deployment>).
   * - OpenAI: by model (scale tier). `service_tier: auto` is served from it while it has room;
   *   the answer's `service_tier` says `scale` or `default`.
   * - Bedrock: by model id (reserved tier). `serviceTier: {type: reserved}` overflows to the
   *   standard tier by itself; the answer's `serviceTier.type` says which served.
   * - Vertex: by model (Provisioned Throughput). Spills to on-demand unless the request says
   *   `X-Vertex-AI-LLM-Request-Type: dedicated` (then 429); `usageMetadata.trafficType` says which.
   */
  provisioned?: Record<string, number>;
  /** 0 = send all chunks at once. */
  tokensPerSecond: number;
  /** Overrides the scripted reply text. */
  reply?: string;
  /** When set, requests must carry this key. */
  apiKey?: string;
  /** Google: verify service-account JWTs at POST /token with this public key (PEM), and then
   * accept on Vertex routes only the access tokens /token issued and that have not expired. */
  serviceAccountPublicKey?: string;
  /** Google: the life of the access tokens /token issues. */
  tokenLifetimeS?: number;
  /**
   * Google, streams: the first chunk carries no text, only the usage so far (an empty text part
   * and usageMetadata with the prompt's count), as a stream may open while the model thinks.
   * A `cut` fault with `afterChunks: 0` then ends the stream after it: usage, and no answer yet.
   */
  leadingUsageChunk?: boolean;
}

export interface RecordedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: unknown;
  readonly deployment: string | null;
  /** The usage the simulated cloud reported for this request, in its own native shape. */
  usage?: unknown;
  /** Stream events written so far (the Anthropic stream): what a test acting mid-stream waits on. */
  eventsSent?: number;
}
