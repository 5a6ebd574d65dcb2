// Binding: an adapter, an upstream's settings and its credentials, put together once when the
// gateway starts. The bound provider knows its URL, auth and settings; a call carries only the
// request and the deployment it is for. (vercel/ai's provider packages bind so: the model object
// receives its URL, headers and fetch in its constructor.) The per-deployment target is built
// once and reused; only the bearer token, which a credential source may refresh, is read per call.
import type { ChatRequest, EmbeddingsRequest } from '../../canonical/index.js';
import type { ProviderId } from '../../provider-ids/index.js';
import type {
  AdapterTarget,
  AwsCredentials,
  BuildHints,
  ChatResult,
  EmbeddingsResult,
  NativeRequest,
  ProviderAdapter,
  ResponseContext,
  StreamMapper,
  StreamOptions,
  Unsupported,
  UpstreamFailure,
} from './adapter.js';

/** What an upstream's config resolves to, minus credentials. */
export interface ProviderSettings {
  /** Upstream base URL's path prefix, without a trailing slash. */
  readonly basePath: string;
  /** `host[:port]`, which SigV4 signs. */
  readonly host: string;
  readonly apiVersion: string | undefined;
  readonly azurePathStyle: 'deployments' | 'v1';
  readonly region?: string;
  readonly project?: string;
  readonly anthropicVersion?: string;
}

/** Where a provider's auth comes from; built outside providers/ (src/credentials). */
export interface ProviderCredentials {
  /** A bearer token or API key, read per request (a token source may have refreshed it). */
  bearer(): string | undefined;
  readonly aws?: AwsCredentials;
}

export interface BoundEmbeddings {
  build(req: EmbeddingsRequest, deployment: string): NativeRequest | Unsupported;
  parse(body: Uint8Array, req: EmbeddingsRequest, ctx: ResponseContext): EmbeddingsResult | UpstreamFailure;
}

export interface BoundProvider {
  readonly id: ProviderId;
  readonly streamFraming: ProviderAdapter['streamFraming'];
  buildChat(req: ChatRequest, deployment: string, hints?: BuildHints): NativeRequest | Unsupported;
  parseChat(body: Uint8Array, ctx: ResponseContext): ChatResult | UpstreamFailure;
  createStreamMapper(opts: StreamOptions): StreamMapper;
  parseError(
    status: number,
    headers: Record<string, string | string[] | undefined>,
    body: Uint8Array,
  ): UpstreamFailure;
  /** null when this provider serves no embeddings. */
  readonly embeddings: BoundEmbeddings | null;
}

export function bindProvider(
  id: ProviderId,
  adapter: ProviderAdapter,
  settings: ProviderSettings,
  credentials: ProviderCredentials,
  nowMs: () => number,
): BoundProvider {
  const targets = new Map<string, AdapterTarget>();
  const targetFor = (deployment: string): AdapterTarget => {
    let t = targets.get(deployment);
    if (!t) {
      t = {
        deployment,
        ...settings,
        get apiKey() {
          return credentials.bearer();
        },
        ...(credentials.aws ? { aws: credentials.aws } : {}),
        nowMs,
      };
      targets.set(deployment, t);
    }
    return t;
  };
  const emb = adapter.embeddings;
  return {
    id,
    streamFraming: adapter.streamFraming,
    buildChat: (req, deployment, hints) =>
      adapter.buildChatRequest(req, hints ? { ...targetFor(deployment), ...hints } : targetFor(deployment)),
    parseChat: (body, ctx) => adapter.parseChatResponse(body, ctx),
    createStreamMapper: (opts) => adapter.createStreamMapper(opts),
    parseError: (status, headers, body) => adapter.parseError(status, headers, body),
    embeddings: emb
      ? {
          build: (req, deployment) => emb.build(req, targetFor(deployment)),
          parse: (body, req, ctx) => emb.parse(body, req, ctx),
        }
      : null,
  };
}
