// The provider adapter interface. Every provider (azure-openai, openai, and later bedrock,
// vertex, anthropic) implements it with pure functions: the canonical request in, a native HTTP
// request out; a native response or one parsed native stream event in, canonical output out.
// Transport (pools, timeouts, failover) lives in the gateway, never here.
import type { ChatRequest, TokenUsage } from '../../canonical/index.js';
import type { SseEvent } from '../../sse/index.js';

/** What an adapter needs to know about the deployment it is sending to. */
export interface AdapterTarget {
  /** Azure deployment name, or the upstream model id. */
  readonly deployment: string;
  /** Upstream base URL's path prefix, without a trailing slash (e.g. '/v1' or ''). */
  readonly basePath: string;
  readonly apiKey: string | undefined;
  readonly apiVersion: string | undefined;
  readonly azurePathStyle: 'deployments' | 'v1';
}

export interface NativeRequest {
  readonly method: 'POST' | 'GET';
  /** Path and query, to be appended to the upstream origin. */
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** A chat response the gateway can hand to the client. */
export interface ChatResult {
  /** The bytes for the client: an OpenAI chat.completion JSON body. */
  readonly body: string | Uint8Array;
  readonly usage: TokenUsage | null;
  readonly finishReason: string | null;
}

/** Why an upstream attempt failed, in the terms failover decides on. */
export type UpstreamFailureKind =
  | 'rate_limited' // 429: fail over, honour retry-after
  | 'server' // 5xx, 408: fail over
  | 'auth' // 401/403/404 from the upstream: our configuration is wrong for this deployment; fail over
  | 'client' // 400/413/422: the request itself is bad; do not fail over, pass the message on
  | 'bad_response'; // not the shape the API promises

export interface UpstreamFailure {
  readonly kind: UpstreamFailureKind;
  readonly status: number;
  readonly message: string;
  /** The upstream's own error code, when it sent one (e.g. 'content_filter'). */
  readonly upstreamCode: string | null;
  readonly param: string | null;
  readonly retryAfterMs: number | null;
}

/** What one native stream event becomes. */
export interface StreamStep {
  /** SSE `data:` payloads to send to the client, in order (never framed here). */
  readonly frames: readonly string[];
  /**
   * The frames carry nothing the client must see at once (a role-only opening delta). The gateway
   * holds such frames back until the first real content, so failover stays possible until then.
   */
  readonly preamble?: boolean;
  /** Set when this event carried the final usage. */
  readonly usage?: TokenUsage;
  readonly finishReason?: string;
  /** The upstream signalled the end of the stream. */
  readonly done?: boolean;
  /** The upstream reported an error inside the stream. */
  readonly error?: UpstreamFailure;
}

export interface StreamMapper {
  map(event: SseEvent): StreamStep;
}

export interface StreamOptions {
  /** The client asked for stream_options.include_usage. */
  readonly clientWantsUsage: boolean;
}

export interface ProviderAdapter {
  readonly id: string;
  buildChatRequest(req: ChatRequest, target: AdapterTarget): NativeRequest;
  parseChatResponse(body: Uint8Array): ChatResult | UpstreamFailure;
  createStreamMapper(opts: StreamOptions): StreamMapper;
  parseError(
    status: number,
    headers: Record<string, string | string[] | undefined>,
    body: Uint8Array,
  ): UpstreamFailure;
}

export function isFailure(x: ChatResult | UpstreamFailure): x is UpstreamFailure {
  return (x as UpstreamFailure).kind !== undefined;
}
