// The values the stages hand each other: how one upstream attempt went, and how the request ends.
// Business outcomes are values, never exceptions.
import type { GatewayError } from '../errors/index.js';
import type { UpstreamFailure } from '../providers/index.js';
import type { AttemptUsage } from '../store/index.js';

export type AttemptOutcome =
  /** The answer (or the part of it the client got) is settled; no failover after this. */
  | {
      readonly kind: 'served';
      readonly status: number;
      readonly errorCode: string | null;
      /** The usage came from the upstream (not estimated). */
      readonly exact: boolean;
      /** False when the upstream broke after the client had bytes: the breaker hears of it. */
      readonly healthy: boolean;
      /**
       * Sends the answer's last bytes. finish() calls it only after the usage record is spooled,
       * so a client never holds a complete answer whose record a crash could lose.
       */
      readonly deliver: (() => void) | null;
    }
  /**
   * Nothing reached the client: the next deployment may serve. `usage`: what the attempt had
   * used, when its cloud had begun work it bills (kept in the attempt log, not billed).
   */
  | { readonly kind: 'failed'; readonly failure: UpstreamFailure; readonly usage?: AttemptUsage }
  /** The upstream refused the request itself: passed on, no failover. */
  | { readonly kind: 'client_error'; readonly failure: UpstreamFailure }
  | { readonly kind: 'client_gone' };

export type Ending =
  | {
      readonly kind: 'served';
      readonly status: number;
      readonly errorCode: string | null;
      readonly exact: boolean;
      readonly deliver: (() => void) | null;
    }
  | { readonly kind: 'error'; readonly error: GatewayError; readonly upstreamCode?: string | null }
  | { readonly kind: 'client_gone' };

export const CLIENT_GONE: Ending = Object.freeze({ kind: 'client_gone' });

export function errorEnding(error: GatewayError, upstreamCode?: string | null): Ending {
  return { kind: 'error', error, upstreamCode: upstreamCode ?? null };
}
