export type {
  AdapterTarget,
  ChatResult,
  NativeRequest,
  ProviderAdapter,
  StreamMapper,
  StreamOptions,
  StreamStep,
  UpstreamFailure,
  UpstreamFailureKind,
} from './adapter.js';
export { isFailure } from './adapter.js';
export { retryAfterMs } from './retry-after.js';
