// The one clock. Everything that reads the wall clock or waits for a moment of it takes a
// `Clock`: production passes `systemClock`, tests pass a `ManualClock` and move time by hand, so
// no test sleeps for real and no test depends on how fast the machine is. Durations measured for
// latency use performance.now() (monotonic), which is not a wall clock and stays outside this.

/** A scheduled callback; cancel() is idempotent. */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Wall-clock time, Unix epoch milliseconds. */
  now(): number;
  /** Runs `fn` once, `ms` of this clock's time from now. The timer never keeps the process alive. */
  setTimeout(fn: () => void, ms: number): Timer;
  /** Runs `fn` every `ms` of this clock's time until cancelled. Never keeps the process alive. */
  setInterval(fn: () => void, ms: number): Timer;
}

/** setTimeout's ceiling (about 24.8 days); a later deadline is reached in steps. */
const MAX_TIMER_MS = 2_147_483_647;

export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimeout(fn: () => void, ms: number): Timer {
    let handle: NodeJS.Timeout;
    const due = Date.now() + ms;
    const arm = (wait: number) => {
      handle = setTimeout(
        () => {
          const left = due - Date.now();
          if (left > 0) arm(left);
          else fn();
        },
        Math.min(Math.max(0, wait), MAX_TIMER_MS),
      );
      handle.unref();
    };
    arm(ms);
    return { cancel: () => clearTimeout(handle) };
  },
  setInterval(fn: () => void, ms: number): Timer {
    const handle = setInterval(fn, Math.min(Math.max(1, ms), MAX_TIMER_MS));
    handle.unref();
    return { cancel: () => clearInterval(handle) };
  },
});

interface Scheduled {
  readonly id: number;
  dueMs: number;
  readonly everyMs: number | null;
  readonly fn: () => void;
}

/**
 * A clock that moves only when told. Timers fire inside advance()/set(), in due order (ties in
 * the order they were scheduled), each seeing now() equal to its own due time.
 */
export class ManualClock implements Clock {
  #nowMs: number;
  #nextId = 1;
  #timers = new Map<number, Scheduled>();

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.#nowMs = startMs;
  }

  now(): number {
    return this.#nowMs;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    return this.#add(fn, ms, null);
  }

  setInterval(fn: () => void, ms: number): Timer {
    return this.#add(fn, ms, Math.max(1, ms));
  }

  /** How many timers are waiting (tests wait for a component to arm one). */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`ManualClock.advance: ${ms} is not a duration`);
    this.set(this.#nowMs + ms);
  }

  /** Moves time forward to `atMs` (never backward), firing every timer due by then. */
  set(atMs: number): void {
    if (atMs < this.#nowMs) throw new RangeError('ManualClock.set: time does not go backward');
    for (;;) {
      let next: Scheduled | null = null;
      for (const t of this.#timers.values()) if (t.dueMs <= atMs && (!next || t.dueMs < next.dueMs)) next = t;
      if (!next) break;
      this.#nowMs = Math.max(this.#nowMs, next.dueMs);
      if (next.everyMs === null) this.#timers.delete(next.id);
      else next.dueMs += next.everyMs;
      next.fn();
    }
    this.#nowMs = atMs;
  }

  #add(fn: () => void, ms: number, everyMs: number | null): Timer {
    const id = this.#nextId++;
    this.#timers.set(id, { id, dueMs: this.#nowMs + Math.max(0, ms), everyMs, fn });
    return { cancel: () => void this.#timers.delete(id) };
  }
}
