export type {
  AdapterTarget,
  AwsCredentials,
  BuildHints,
  ChatResult,
  EmbeddingsAdapter,
  EmbeddingsResult,
  NativeRequest,
  ProviderAdapter,
  ResponseContext,
  StreamMapper,
  StreamOptions,
  StreamStep,
  Unsupported,
  UpstreamFailure,
  UpstreamFailureKind,
} from './adapter.js';
export { isFailure, isUnsupported, REASONING_DELTA, transportFailure } from './adapter.js';
export type {
  BoundEmbeddings,
  BoundProvider,
  ProviderCredentials,
  ProviderSettings,
} from './bind-provider.js';
export { bindProvider } from './bind-provider.js';
export type { ChunkShape, Hole } from './chunk-shape.js';
export {
  cutUsageNullTail,
  endOfJsonString,
  isJsonString,
  learnShape,
  probeCount,
  probeValue,
  ShapeReader,
} from './chunk-shape.js';
export { embeddingsBody } from './embeddings-output.js';
export type { NormalizedChat, Part, ToolChoice, ToolDef, Turn } from './normalize-chat.js';
export { normalizeChat, resultAsObject } from './normalize-chat.js';
export type { FinishReason, OpenAIToolCall } from './openai-output.js';
export {
  badResponse,
  ChunkWriter,
  completionBody,
  openaiUsage,
  parseDataUrl,
  streamFailure,
  unsupported,
} from './openai-output.js';
export { retryAfterMs } from './retry-after.js';
export { tierOf } from './tier-of.js';
