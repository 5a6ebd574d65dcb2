// Per-deployment health: a circuit breaker with cooldown, so that a dead primary costs later
// requests nothing (users of other gateways pay several failed attempts per request, gateways.md
// complaint 7, and an "open" breaker that still tries the primary, complaint 8).
//   closed    → every request may use the deployment
//   open      → skipped at once until `openUntilMs`
//   half-open → after the cooldown, exactly one probe request; success closes, failure reopens
//               with a doubled cooldown (up to maxCooldownMs)
// A 429 opens the breaker for the upstream's retry-after, whatever the failure count.

export interface CooldownPolicy {
  readonly failureThreshold: number;
  readonly cooldownMs: number;
  readonly maxCooldownMs: number;
}

interface State {
  failures: number;
  openUntilMs: number;
  nextCooldownMs: number;
  probing: boolean;
}

/** closed: serving; open: skipped until the cooldown ends; half-open: one probe in flight. */
export type BreakerState = 'closed' | 'open' | 'half-open';

export type Availability =
  | { readonly available: true; readonly probe: boolean }
  | { readonly available: false; readonly untilMs: number };

export interface HealthEvents {
  onCooldown?(key: string, untilMs: number, reason: string): void;
  onTransition?(t: Transition): void;
}

/** One change of a breaker's state, kept (the last TRANSITIONS_KEPT) for the console and admin API. */
export interface Transition {
  readonly atMs: number;
  readonly deployment: string;
  readonly from: BreakerState;
  readonly to: BreakerState;
  readonly reason: string;
}

const TRANSITIONS_KEPT = 200;

export class HealthTracker {
  readonly #states = new Map<string, State>();
  readonly #transitions: Transition[] = [];

  constructor(
    readonly policy: CooldownPolicy,
    readonly events: HealthEvents = {},
    /** Stamps transitions; the breaker's own decisions take the caller's nowMs. */
    readonly now: () => number = () => 0,
  ) {}

  #stateOf(s: State, nowMs: number): BreakerState {
    return s.probing ? 'half-open' : s.openUntilMs > nowMs ? 'open' : 'closed';
  }

  #moved(key: string, from: BreakerState, to: BreakerState, reason: string, atMs: number): void {
    if (from === to) return;
    const t = { atMs, deployment: key, from, to, reason };
    this.#transitions.push(t);
    if (this.#transitions.length > TRANSITIONS_KEPT) this.#transitions.shift();
    this.events.onTransition?.(t);
  }

  /** The most recent state changes, oldest first. */
  transitions(): readonly Transition[] {
    return this.#transitions;
  }

  #state(key: string): State {
    let s = this.#states.get(key);
    if (!s) {
      s = { failures: 0, openUntilMs: 0, nextCooldownMs: this.policy.cooldownMs, probing: false };
      this.#states.set(key, s);
    }
    return s;
  }

  /** Whether a request may use the deployment now. A `probe: true` answer reserves the probe slot. */
  acquire(key: string, nowMs: number): Availability {
    const s = this.#states.get(key);
    if (!s || s.openUntilMs === 0) return { available: true, probe: false };
    if (nowMs < s.openUntilMs) return { available: false, untilMs: s.openUntilMs };
    if (s.probing) return { available: false, untilMs: nowMs + 1000 };
    s.probing = true;
    this.#moved(key, 'open', 'half-open', 'cooldown over: one probe request', nowMs);
    return { available: true, probe: true };
  }

  /** Releases a probe slot that was acquired but not used. */
  release(key: string): void {
    const s = this.#states.get(key);
    if (s) s.probing = false;
  }

  success(key: string): void {
    const s = this.#states.get(key);
    if (!s) return;
    const atMs = this.now();
    if (s.probing || s.openUntilMs !== 0)
      this.#moved(key, s.probing ? 'half-open' : 'open', 'closed', 'a request succeeded', atMs);
    s.failures = 0;
    s.openUntilMs = 0;
    s.probing = false;
    s.nextCooldownMs = this.policy.cooldownMs;
  }

  /**
   * A failed attempt. The cooldown grows with consecutive failed probes, not with concurrent
   * failures: requests already in flight when the breaker opened fail too, and they must not
   * push it further open (a 1.5 s blip under 20 concurrent requests would otherwise escalate to
   * the maximum within a second). A retry-after still holds the breaker open at least that long.
   */
  failure(key: string, nowMs: number, retryAfterMs: number | null, reason: string): void {
    const s = this.#state(key);
    const before = this.#stateOf(s, nowMs);
    s.failures++;
    const wasProbe = s.probing;
    s.probing = false;
    const alreadyOpen = s.openUntilMs > nowMs;
    let cooldownMs = retryAfterMs !== null && retryAfterMs > 0 ? retryAfterMs : 0;
    if (wasProbe || (!alreadyOpen && s.failures >= this.policy.failureThreshold)) {
      cooldownMs = Math.max(cooldownMs, s.nextCooldownMs);
      s.nextCooldownMs = Math.min(this.policy.maxCooldownMs, s.nextCooldownMs * 2);
    }
    if (cooldownMs > 0 && nowMs + cooldownMs > s.openUntilMs) {
      s.openUntilMs = nowMs + cooldownMs;
      this.events.onCooldown?.(key, s.openUntilMs, reason);
    }
    this.#moved(key, before, this.#stateOf(s, nowMs), reason, nowMs);
  }

  /**
   * A cooldown another node saw: applied as it is (a peer's failure never escalates our own
   * cooldown), so every node skips the deployment at once.
   */
  applyPeer(key: string, untilMs: number, nowMs: number, from: string): void {
    const s = this.#state(key);
    const before = this.#stateOf(s, nowMs);
    if (untilMs > s.openUntilMs) s.openUntilMs = untilMs;
    this.#moved(key, before, this.#stateOf(s, nowMs), `peer ${from}`, nowMs);
  }

  /** Another node's probe succeeded: the deployment is closed here too, without a probe of ours. */
  peerRecovered(key: string, nowMs: number, from: string): void {
    const s = this.#states.get(key);
    if (!s || (s.openUntilMs === 0 && !s.probing)) return;
    const before = this.#stateOf(s, nowMs);
    s.failures = 0;
    s.openUntilMs = 0;
    s.probing = false;
    s.nextCooldownMs = this.policy.cooldownMs;
    this.#moved(key, before === 'closed' ? 'open' : before, 'closed', `peer ${from} recovered it`, nowMs);
  }

  snapshot(
    nowMs: number,
  ): Record<string, { failures: number; coolingDown: boolean; openUntilMs: number; state: BreakerState }> {
    const out: Record<
      string,
      { failures: number; coolingDown: boolean; openUntilMs: number; state: BreakerState }
    > = {};
    for (const [k, s] of this.#states)
      out[k] = {
        failures: s.failures,
        coolingDown: s.openUntilMs > nowMs,
        openUntilMs: s.openUntilMs,
        state: this.#stateOf(s, nowMs),
      };
    return out;
  }
}
