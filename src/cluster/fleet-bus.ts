// The fleet's fast shared state over Redis: cooldowns (a key with a TTL per deployment, and a
// message so every node applies it at once), recoveries, and change notifications (rollout log,
// keys), so that every node applies a change within a second instead of at its next poll. The
// poll stays as the safety net, and a node that reconnects reads the cooldown keys again.
//
// Client: ioredis (well kept, reconnects by itself, re-subscribes after a reconnect, and runs Lua
// scripts, which the fleet-wide limiters need). PostgreSQL stays the system of record; nothing
// here is the only copy of anything that matters.
import { Redis } from 'ioredis';
import type { Logger } from '../observability/index.js';

export type FleetMessage =
  | {
      readonly kind: 'cooldown';
      readonly deployment: string;
      readonly untilMs: number;
      readonly reason: string;
    }
  | { readonly kind: 'recovered'; readonly deployment: string }
  | { readonly kind: 'changed'; readonly what: 'rollout' | 'keys' };

interface Envelope {
  readonly from: string;
  /** The sender's clock when it published: receivers measure propagation with it. */
  readonly sentAtMs: number;
  readonly message: FleetMessage;
}

export interface FleetBusOptions {
  readonly url: string;
  /** Prefix of every key and channel: several fleets (or tests) can share one Redis. */
  readonly namespace: string;
  readonly nodeId: string;
  readonly log: Logger;
  readonly now: () => number;
  onMessage(m: FleetMessage, from: string, sentAtMs: number): void;
  /** After a reconnect: what may have been missed is read again. */
  onResync?(): void;
}

export class FleetBus {
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #opts: FleetBusOptions;
  readonly #channel: string;
  readonly #seenReady = new WeakSet<Redis>();
  /** Messages that could not be published (Redis down): each node's poll catches up. */
  dropped = 0;

  private constructor(opts: FleetBusOptions) {
    this.#opts = opts;
    this.#channel = `${opts.namespace}:fleet`;
    const common = { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false } as const;
    this.#pub = new Redis(opts.url, common);
    this.#sub = new Redis(opts.url, { ...common, enableOfflineQueue: true });
    for (const c of [this.#pub, this.#sub])
      c.on('error', (err: Error) => opts.log.warn('redis error', { error: err.message }));
    this.#sub.on('message', (_channel: string, raw: string) => this.#receive(raw));
    // After a reconnect of either connection, what may have been missed is read again.
    for (const c of [this.#pub, this.#sub])
      c.on('ready', () => {
        if (this.#seenReady.has(c)) opts.onResync?.();
        this.#seenReady.add(c);
      });
  }

  static async connect(opts: FleetBusOptions): Promise<FleetBus> {
    const bus = new FleetBus(opts);
    await Promise.all([bus.#pub.connect(), bus.#sub.connect()]);
    await bus.#sub.subscribe(bus.#channel);
    return bus;
  }

  get connected(): boolean {
    return this.#pub.status === 'ready' && this.#sub.status === 'ready';
  }

  #receive(raw: string): void {
    let e: Envelope;
    try {
      e = JSON.parse(raw) as Envelope;
    } catch {
      return;
    }
    if (e.from === this.#opts.nodeId || !e.message || typeof e.message !== 'object') return;
    this.#opts.onMessage(e.message, e.from, e.sentAtMs);
  }

  /** Fire and forget: with Redis down the message is dropped and counted; the polls catch up. */
  publish(message: FleetMessage): void {
    const e: Envelope = { from: this.#opts.nodeId, sentAtMs: this.#opts.now(), message };
    const key = `${this.#opts.namespace}:cooldown:${message.kind === 'recovered' || message.kind === 'cooldown' ? message.deployment : ''}`;
    const p =
      message.kind === 'cooldown'
        ? this.#pub
            .multi()
            .set(key, String(message.untilMs), 'PX', Math.max(1, message.untilMs - this.#opts.now()))
            .publish(this.#channel, JSON.stringify(e))
            .exec()
        : message.kind === 'recovered'
          ? this.#pub.multi().del(key).publish(this.#channel, JSON.stringify(e)).exec()
          : this.#pub.publish(this.#channel, JSON.stringify(e));
    p.catch(() => {
      this.dropped++;
    });
  }

  /** The cooldowns in force (their keys expire with them): read at start and after a reconnect. */
  async cooldowns(): Promise<{ deployment: string; untilMs: number }[]> {
    const prefix = `${this.#opts.namespace}:cooldown:`;
    const out: { deployment: string; untilMs: number }[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.#pub.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) {
        const values = await this.#pub.mget(...keys);
        keys.forEach((k, i) => {
          const v = Number(values[i]);
          if (Number.isFinite(v)) out.push({ deployment: k.slice(prefix.length), untilMs: v });
        });
      }
    } while (cursor !== '0');
    return out;
  }

  async close(): Promise<void> {
    await Promise.all([this.#pub.quit().catch(() => undefined), this.#sub.quit().catch(() => undefined)]);
  }
}
