// One request's bookkeeping, from arrival to its usage record. Created by the handler, filled in
// by the stages, read once by finish().
import type { TokenUsage } from '../canonical/index.js';
import type { Hold } from '../limits/index.js';
import { noopTracer, type Span } from '../observability/index.js';
import type { CatalogDeployment } from '../routing/index.js';
import type { AttemptRecord } from '../store/index.js';
import type { Caller } from './auth.js';

/** What the usage record needs of a request: the model asked for, and whether it streamed. */
export interface Asked {
  readonly model: string;
  readonly stream?: boolean | null | undefined;
}

/** The shared no-op span: tracing off costs one comparison. */
export const NOOP_SPAN: Span = noopTracer.start('', 'internal');

export class RequestState {
  /** The request's trace span (the shared no-op when tracing is off). */
  span: Span = NOOP_SPAN;
  /** The open span of the upstream attempt in progress, when tracing. */
  attemptSpan: Span | null = null;
  /** The messages, for the access log, only when observability.logPrompts is on. */
  prompt: string | null = null;
  /** What the client asked for, once parsed. */
  asked: Asked | null = null;
  /** A stream's overhead is what the gateway added before the first byte reached the client. */
  firstByteOverheadUs: number | null = null;
  upstreamWaitMs = 0;
  attempts = 0;
  deployment: CatalogDeployment | null = null;
  usage: TokenUsage | null = null;
  /** The limits' reservation, settled (or cancelled) by finish(). */
  hold: Hold | null = null;
  /** Worst-case tokens of the request (prompt bound + output bound): what limits and pools reserve. */
  worstTokens = 0;
  /** The reservation in the capacity pool of the deployment being tried (or that served). */
  poolHold: Hold | null = null;
  /** The pool that served (or pay-as-you-go); null when no pools are configured. */
  capacity: string | null = null;
  /** Every attempt but a lone one that served: where, how it ended, how long it took. */
  attemptLog: AttemptRecord[] | null = null;
  /** The deployment the cloud itself spilled this request to (Azure's spill-over deployment). */
  spilledTo: CatalogDeployment | null = null;
  /** The capacity tier the cloud said served (its own word: `scale`, `reserved`, `ON_DEMAND`…). */
  tier: string | null = null;
  /** The first pool that was full for this request, when it spilled over. */
  spilledFrom: string | null = null;
  /** Set by finish(): a request is finished once, whatever else goes wrong after. */
  finished = false;

  constructor(
    readonly requestId: string,
    /** performance.now() at arrival. */
    readonly t0: number,
    /** Wall-clock arrival, from the gateway's clock: prices, licences and ids are decided at it. */
    readonly startedAtMs: number,
    readonly caller: Caller,
    /** The API surface the request came in on. */
    readonly surface: 'chat' | 'responses' | 'embeddings',
  ) {}

  /** The GenAI operation (OpenTelemetry's gen_ai.operation.name): the Responses API is chat. */
  get operation(): 'chat' | 'embeddings' {
    return this.surface === 'embeddings' ? 'embeddings' : 'chat';
  }

  overheadUs(now: number): number {
    if (this.firstByteOverheadUs !== null) return this.firstByteOverheadUs;
    return Math.max(0, Math.round((now - this.t0 - this.upstreamWaitMs) * 1000));
  }
}
