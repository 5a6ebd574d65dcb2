// The provider adapter interface. Every provider (azure-openai, openai, and later bedrock,
// vertex, anthropic) implements it with pure functions: the canonical request in, a native HTTP
// request out; a native response or one parsed native stream event in, canonical output out.
// Transport (pools, timeouts, failover) lives in the gateway, never here.
import type { ChatRequest, EmbeddingsRequest, TokenUsage } from '../../canonical/index.js';
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
  /** The upstream's `host[:port]`, which request signing (SigV4) covers. */
  readonly host?: string;
  /** The cloud region (Bedrock's signing region, Vertex's location). */
  readonly region?: string;
  /** Google Cloud project (Vertex). */
  readonly project?: string;
  /** AWS credentials for SigV4; without them a Bedrock API key (`apiKey`) is sent as a bearer token. */
  readonly aws?: AwsCredentials;
  /** Anthropic API version (`anthropic-version` header or body field). */
  readonly anthropicVersion?: string;
  /** The clock request signing uses; the system clock when absent. */
  readonly nowMs?: () => number;
  /**
   * Bedrock: the service tier to ask for (`reserved` for a deployment in a provisioned pool), sent
   * as Converse's `serviceTier`; the answer's `serviceTier` says which tier served.
   */
  readonly serviceTier?: string;
  /**
   * Azure: the standard deployment in the same resource that a full PTU deployment spills to, sent
   * as `x-ms-spillover-deployment`; the answer says `x-ms-spillover-from-<deployment>` when it did.
   */
  readonly spilloverDeployment?: string;
}

/** What the gateway asks of one attempt beyond the request itself (from the deployment's pool). */
export interface BuildHints {
  readonly serviceTier?: string;
  readonly spilloverDeployment?: string;
}

export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/** What the gateway tells an adapter about the answer it is building for the client. */
export interface ResponseContext {
  /** The model name the client asked for (echoed in `model`). */
  readonly model: string;
  /** The chat completion id (`chatcmpl-…`). */
  readonly id: string;
  /** Unix seconds. */
  readonly created: number;
}

/** The request asks for something this provider cannot honour; never dropped silently. */
export interface Unsupported {
  readonly unsupported: true;
  readonly param: string;
  readonly message: string;
}

export interface NativeRequest {
  readonly method: 'POST' | 'GET';
  /** Path and query, to be appended to the upstream origin. */
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string;
  /** Parameters honoured only approximately or not at all, reported to the client in a header. */
  readonly warnings?: readonly string[];
}

/** A chat response the gateway can hand to the client. */
export interface ChatResult {
  /** The bytes for the client: an OpenAI chat.completion JSON body. */
  readonly body: string | Uint8Array;
  readonly usage: TokenUsage | null;
  readonly finishReason: string | null;
  /**
   * The capacity tier the cloud says served the request, in its own words: OpenAI's and
   * Anthropic's `service_tier`, Bedrock's `serviceTier.type`, Vertex's `usageMetadata.trafficType`.
   */
  readonly tier?: string;
}

/** Why an upstream attempt failed, in the terms failover decides on. */
export type UpstreamFailureKind =
  | 'rate_limited' // 429: fail over, honour retry-after
  | 'server' // 5xx, 408: fail over
  | 'auth' // 401/403 from the upstream: our credentials are wrong for this deployment; fail over
  | 'not_found' // 404: the deployment (or model) does not exist there: our configuration is wrong; fail over
  | 'client' // 400/413/422: the request itself is bad; do not fail over, pass the message on
  | 'bad_response' // not the shape the API promises
  | 'timeout' // no response headers in time, or the stream ran past its limit: fail over
  | 'connect'; // the connection could not be made or broke before an answer: fail over

export interface UpstreamFailure {
  readonly kind: UpstreamFailureKind;
  readonly status: number;
  readonly message: string;
  /** The upstream's own error code, when it sent one (e.g. 'content_filter'). */
  readonly upstreamCode: string | null;
  readonly param: string | null;
  readonly retryAfterMs: number | null;
}

/**
 * What one native stream event becomes. SSE events arrive as parsed; Bedrock's binary event-stream
 * messages arrive as `{ event: <:event-type>, data: <payload> }`, exceptions as
 * `{ event: 'exception:<:exception-type>', data }`.
 */
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
  /**
   * The prompt's figures as the upstream reported them at the stream's start, before its final
   * usage (Anthropic's message_start): what a stream that ends early is billed for its prompt.
   * Only the input buckets are read.
   */
  readonly promptUsage?: TokenUsage;
  /**
   * The event carried reasoning the client is not sent (Anthropic's thinking_delta, Converse's
   * reasoningContent): should the
   * stream end before the upstream's usage, it counts one reasoning token, as a content delta
   * counts one output token.
   */
  readonly reasoningDelta?: boolean;
  /** The capacity tier the cloud says served the stream (see ChatResult.tier). */
  readonly tier?: string;
  readonly finishReason?: string;
  /** The upstream signalled the end of the stream. */
  readonly done?: boolean;
  /** The upstream reported an error inside the stream. */
  readonly error?: UpstreamFailure;
}

/** The step of a reasoning delta the client is not shown: counted, and nothing sent. */
export const REASONING_DELTA: StreamStep = Object.freeze({ frames: [], reasoningDelta: true });

export interface StreamMapper {
  map(event: SseEvent): StreamStep;
}

export interface StreamOptions extends ResponseContext {
  /** The client asked for stream_options.include_usage. */
  readonly clientWantsUsage: boolean;
}

/** An embeddings answer for the client: OpenAI's list body, and the input tokens it cost. */
export interface EmbeddingsResult {
  readonly body: string | Uint8Array;
  readonly tokensInput: number | null;
}

export interface EmbeddingsAdapter {
  build(req: EmbeddingsRequest, target: AdapterTarget): NativeRequest | Unsupported;
  parse(body: Uint8Array, req: EmbeddingsRequest, ctx: ResponseContext): EmbeddingsResult | UpstreamFailure;
}

export interface ProviderAdapter {
  /** POST /v1/embeddings, for providers that serve embeddings. */
  readonly embeddings?: EmbeddingsAdapter;
  readonly id: string;
  /** How the upstream frames a streamed answer. */
  readonly streamFraming: 'sse' | 'aws-eventstream';
  buildChatRequest(req: ChatRequest, target: AdapterTarget): NativeRequest | Unsupported;
  parseChatResponse(body: Uint8Array, ctx: ResponseContext): ChatResult | UpstreamFailure;
  createStreamMapper(opts: StreamOptions): StreamMapper;
  parseError(
    status: number,
    headers: Record<string, string | string[] | undefined>,
    body: Uint8Array,
  ): UpstreamFailure;
}

/** A failure of the transport itself (no HTTP status from the upstream). */
export function transportFailure(kind: 'timeout' | 'connect', message?: string): UpstreamFailure {
  return {
    kind,
    status: kind === 'timeout' ? 504 : 502,
    message:
      message ??
      (kind === 'timeout' ? 'the upstream did not answer in time' : 'the upstream connection failed'),
    upstreamCode: null,
    param: null,
    retryAfterMs: null,
  };
}

export function isUnsupported(x: NativeRequest | Unsupported): x is Unsupported {
  return (x as Unsupported).unsupported === true;
}

export function isFailure<T extends object>(x: T | UpstreamFailure): x is UpstreamFailure {
  return (x as UpstreamFailure).kind !== undefined;
}
