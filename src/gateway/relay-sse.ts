// The SSE relay: passes a streamed answer through as it arrives. Role-only opening frames are
// held back until the first content, so that until the client has a byte, failover is still
// possible; after it, a broken upstream becomes an error event in the stream (the client has
// already seen part of an answer, and a second model's answer spliced onto it would be wrong).
// The stream's last bytes (the final frames and [DONE]) are handed to finish() to send after the
// usage record is spooled. A stream that ends early (the client hangs up, the upstream breaks) is
// billed what the client was sent: the upstream's usage when it has reported it, else the prompt
// (as the upstream reported it at the start, or estimated), one output token per content delta
// delivered and one reasoning token per reasoning delta the cloud sent but the client is not shown
// (marked inexact). A client that leaves before its first byte is billed so only if the cloud had
// already reported the prompt or streamed reasoning.
import type { ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { type ChatRequest, estimatePromptTokens, type TokenUsage, zeroUsage } from '../canonical/index.js';
import type { Timer } from '../clock/index.js';
import { EventStreamEventParser } from '../eventstream/index.js';
import {
  badResponse,
  type NativeRequest,
  type ResponseContext,
  type StreamMapper,
  transportFailure,
  type UpstreamFailure,
} from '../providers/index.js';
import { SseParser } from '../sse/index.js';
import type { AttemptUsage } from '../store/index.js';
import { noteServedTier, noteUpstreamHeaders } from './capacity.js';
import type { GatewayContext } from './context.js';
import type { ClientEncoder } from './encoders.js';
import type { AttemptOutcome } from './outcome.js';
import { servedHeaders } from './relay-json.js';
import type { RequestState } from './request-state.js';
import { failureOf, isResponse, send } from './upstream-call.js';
import { ExchangeAbort, type UpstreamHead } from './upstream-exchange.js';
import type { BoundDeployment } from './upstreams.js';

/** The stream's head: where it came from (servedHeaders), then the SSE headers, in one object (no spread). */
function sseHeaders(h: Record<string, string>): Record<string, string> {
  h['content-type'] = 'text/event-stream; charset=utf-8';
  h['cache-control'] = 'no-cache';
  return h;
}

export class SseRelay {
  readonly #abortExchange = new ExchangeAbort();
  /** Why we aborted the upstream: the client left, no first event in time, or the stream ran too long. */
  #why: 'client' | 'first_byte' | 'duration' | null = null;
  #tUp = 0;
  #started = false;
  #finishReason: string | undefined;
  #doneSeen = false;
  #held = '';
  /** Frames written to the client (role-only preambles not counted). */
  #delivered = 0;
  /** The prompt's figures, once the upstream has reported them ahead of its final usage. */
  #prompt: TokenUsage | null = null;
  /**
   * The usage this attempt's upstream reported (its final figures, or a running total). It becomes
   * the request's only when this attempt ends the request: a failed attempt's counts must never be
   * billed as the next attempt's.
   */
  #usage: TokenUsage | null = null;
  /**
   * Reasoning deltas the upstream sent that the client is not shown (Claude's thinking, Converse's
   * reasoningContent).
   */
  #reasoning = 0;
  /** The answer's end is decided (handed to finish): nothing more is written from the pump. */
  #ended = false;
  #complete: (o: AttemptOutcome) => void = () => {};
  #firstByte: Timer | null = null;

  constructor(
    private readonly gw: GatewayContext,
    private readonly res: ServerResponse,
    private readonly state: RequestState,
    private readonly b: BoundDeployment,
    private readonly native: NativeRequest,
  ) {}

  async run(chat: ChatRequest, ctx: ResponseContext, enc: ClientEncoder): Promise<AttemptOutcome> {
    const onClose = () => {
      if (!this.res.writableFinished) this.#abort('client');
    };
    this.res.once('close', onClose);
    const timer: Timer = this.gw.clock.setTimeout(
      () => this.#abort('duration'),
      this.gw.config.server.streamMaxDurationMs,
    );
    // A hung upstream costs firstByteTimeoutMs, then the next deployment is tried.
    this.#firstByte = this.gw.clock.setTimeout(
      () => this.#abort('first_byte'),
      this.b.upstream.config.firstByteTimeoutMs,
    );
    this.#tUp = performance.now();
    try {
      const r = await send(this.gw, this.b, this.native, this.#abortExchange);
      if (!isResponse(r)) {
        this.#waited();
        if (this.#why === 'client') return { kind: 'client_gone' };
        return { kind: 'failed', failure: this.#why !== null ? this.#transportFailure() : r };
      }
      if (r.statusCode !== 200) {
        const outcome = await failureOf(this.b, r);
        this.#waited();
        return outcome;
      }
      noteUpstreamHeaders(this.gw, this.state, this.b.deployment, r);
      const mapper = this.b.upstream.provider.createStreamMapper({
        ...ctx,
        clientWantsUsage: enc.forceUsage || chat.stream_options?.include_usage === true,
      });
      // Settles as soon as the client's answer is complete; the rest of the upstream body (after
      // [DONE]) is still read, so the connection goes back to the keep-alive pool, not torn down.
      return await new Promise<AttemptOutcome>((resolve, reject) => {
        this.#complete = resolve;
        this.#pump(r, mapper, enc, chat).then(resolve, reject);
      });
    } finally {
      timer.cancel();
      this.#firstByte?.cancel();
      this.res.off('close', onClose);
    }
  }

  /**
   * Why an attempt with nothing sent to the client failed in transport: aborted by a timer (no
   * event within firstByteTimeoutMs, or the stream's whole time up) is a timeout; otherwise the
   * connection broke.
   */
  #transportFailure(): UpstreamFailure {
    if (this.#why === 'first_byte')
      return transportFailure(
        'timeout',
        `the upstream sent no event within ${this.b.upstream.config.firstByteTimeoutMs} ms of the request (firstByteTimeoutMs)`,
      );
    return transportFailure(this.#why === 'duration' ? 'timeout' : 'connect');
  }

  #abort(why: 'client' | 'first_byte' | 'duration'): void {
    this.#why ??= why;
    this.#abortExchange.abort();
  }

  #waited(): void {
    this.state.upstreamWaitMs += performance.now() - this.#tUp;
  }

  async #pump(
    r: UpstreamHead,
    mapper: StreamMapper,
    enc: ClientEncoder,
    chat: ChatRequest,
  ): Promise<AttemptOutcome> {
    const parser =
      this.b.upstream.provider.streamFraming === 'sse' ? new SseParser() : new EventStreamEventParser();
    let streamError: UpstreamFailure | null = null;
    try {
      for await (const chunk of r.body) {
        if (this.#firstByte) {
          this.#firstByte.cancel();
          this.#firstByte = null;
        }
        // After [DONE] the body is read to its end rather than destroyed, so the upstream
        // connection goes back to the keep-alive pool instead of being torn down.
        if (this.#doneSeen) continue;
        let out = '';
        for (const ev of parser.push(chunk)) {
          const step = mapper.map(ev);
          if (step.usage) this.#usage = step.usage;
          if (step.promptUsage) this.#prompt = step.promptUsage;
          if (step.reasoningDelta) this.#reasoning++;
          if (step.tier) noteServedTier(this.gw, this.state, step.tier);
          if (step.finishReason) this.#finishReason = step.finishReason;
          if (step.frames.length > 0) {
            if (step.preamble && !this.#started) this.#held += enc.frames(step.frames);
            else {
              out += enc.frames(step.frames);
              if (!step.preamble) this.#delivered += step.frames.length;
            }
          }
          if (step.error) {
            streamError = step.error;
            break;
          }
          if (step.done) {
            this.#doneSeen = true;
            break;
          }
        }
        if (out) {
          if (!this.#started) out = this.#open(out);
          // The client's answer is complete now, whatever the upstream does next.
          if (this.#doneSeen) this.#endOk(out, enc);
          else if (!this.res.write(out)) await waitDrain(this.res);
        } else if (this.#doneSeen && this.#started) this.#endOk('', enc);
        if (streamError) break;
      }
    } catch {
      // The upstream connection broke, timed out between chunks, or we aborted it.
      if (this.#ended) return this.#served();
      if (this.#why === 'client') {
        if (!this.#started) this.#waited();
        // Before its first byte the client was sent nothing, but a cloud that had reported the
        // prompt or streamed reasoning (a long think) had begun work it bills.
        if (this.#started || this.#begun()) this.state.usage = this.#usage ?? this.#usedSoFar(chat);
        return { kind: 'client_gone' };
      }
      if (!this.#started) {
        this.#waited();
        return {
          kind: 'failed',
          failure: this.#transportFailure(),
          ...this.#attemptUsage(chat),
        };
      }
      streamError = this.#brokenMidway();
    }
    return this.#settle(r, streamError, enc, chat);
  }

  /** Sends the head and whatever was held back; returns what to write after it. */
  #open(out: string): string {
    this.#started = true;
    this.#waited();
    this.state.deployment = this.b.deployment;
    this.state.firstByteOverheadUs = this.state.overheadUs(performance.now());
    this.res.writeHead(200, sseHeaders(servedHeaders(this.state, this.b, performance.now(), this.native)));
    const first = this.#held + out;
    this.#held = '';
    return first;
  }

  /** The answer is complete: its last bytes go out once finish() has spooled the record. */
  #endOk(last: string, enc: ClientEncoder): void {
    this.#ended = true;
    const res = this.res;
    this.#complete(this.#served(() => res.end(last + enc.end())));
  }

  #served(deliver: (() => void) | null = null): AttemptOutcome {
    // This attempt ends the request: what it reported is the request's usage.
    this.state.usage = this.#usage;
    return {
      kind: 'served',
      status: 200,
      errorCode: null,
      exact: this.#usage !== null,
      healthy: true,
      deliver,
    };
  }

  /** Whether the cloud had begun work it bills: it reported usage or the prompt, or streamed reasoning. */
  #begun(): boolean {
    return this.#usage !== null || this.#prompt !== null || this.#reasoning > 0;
  }

  /**
   * What an attempt that failed before the client's first byte had used, for the attempt log:
   * the cloud's report, else counted as an abandoned stream is; nothing where the cloud had not
   * begun.
   */
  #attemptUsage(chat: ChatRequest): { usage?: AttemptUsage } {
    const u = this.#usage ?? (this.#begun() ? this.#usedSoFar(chat) : null);
    if (u === null) return {};
    // The four buckets alone: what a mapper's usage object carries besides them stays out of the log.
    return {
      usage: {
        tokensInputUncached: u.tokensInputUncached,
        tokensInputCached: u.tokensInputCached,
        tokensOutput: u.tokensOutput,
        tokensReasoning: u.tokensReasoning,
        exact: this.#usage !== null,
      },
    };
  }

  /**
   * What a stream that ended early (the client hung up, or the upstream broke) used, when the
   * upstream never said: the prompt as the upstream reported it at the start (Anthropic's
   * message_start, cached tokens apart), else estimated; one output token per content delta the
   * client was sent, and one reasoning token per reasoning delta it was not (thinking it paid for).
   */
  #usedSoFar(chat: ChatRequest): TokenUsage {
    const p = this.#prompt;
    return {
      ...zeroUsage,
      tokensInputUncached: p ? p.tokensInputUncached : estimatePromptTokens(chat),
      tokensInputCached: p ? p.tokensInputCached : 0,
      tokensOutput: this.#delivered,
      tokensReasoning: this.#reasoning,
    };
  }

  #brokenMidway(): UpstreamFailure {
    const duration = this.#why === 'duration';
    return {
      kind: 'server',
      status: 502,
      message: duration
        ? `The stream ran longer than ${this.gw.config.server.streamMaxDurationMs} ms (server.streamMaxDurationMs).`
        : 'The upstream connection broke in the middle of the stream.',
      upstreamCode: duration ? 'stream_duration_exceeded' : null,
      param: null,
      retryAfterMs: null,
    };
  }

  /** The upstream stream is over (ended, errored or cut): decide what the client's stream was. */
  #settle(
    r: UpstreamHead,
    streamError: UpstreamFailure | null,
    enc: ClientEncoder,
    chat: ChatRequest,
  ): AttemptOutcome {
    if (this.#ended) return this.#served();
    this.#ended = true;
    if (streamError) r.body.destroy();
    // A stream that ends without [DONE] is complete if it carried a finish reason (some
    // OpenAI-compatible servers omit [DONE]); otherwise it was cut.
    const complete = !streamError && (this.#doneSeen || this.#finishReason !== undefined);
    if (!this.#started) {
      this.#waited();
      if (!complete)
        return {
          kind: 'failed',
          failure: streamError ?? badResponse('the upstream stream ended before any event'),
          ...this.#attemptUsage(chat),
        };
      // A complete stream with nothing to show: still a valid (empty) answer.
      this.state.deployment = this.b.deployment;
      this.res.writeHead(200, sseHeaders(servedHeaders(this.state, this.b, performance.now(), this.native)));
      if (this.#held) this.res.write(this.#held);
    }
    const res = this.res;
    if (complete) return this.#served(() => res.end(enc.end()));
    const code =
      streamError?.upstreamCode === 'stream_duration_exceeded'
        ? 'stream_duration_exceeded'
        : 'upstream_stream_error';
    // Without the upstream's usage, it is billed as an abandoned stream is.
    this.state.usage = this.#usage ?? this.#usedSoFar(chat);
    // The breaker hears of it, but there is no failover once the client has bytes.
    return {
      kind: 'served',
      status: 200,
      errorCode: code,
      exact: false,
      healthy: false,
      deliver: () => res.end(enc.error(code, streamError?.message)),
    };
  }
}

function waitDrain(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.once('drain', done);
    res.once('close', done);
  });
}
