// The Redis limiter after a reconnection to a restarted (empty) Redis: until it has read the new
// server's run_id and seeded its counters from the ledger, it admits nothing. The dangerous moment
// is one round trip long: ioredis reports the connection ready (its own ready check answered),
// while the limiter's INFO, which tells it which Redis it reached, is still on its way. A proxy
// between the limiter and Redis holds every answer after the ready check's, so the test looks at
// the limiter inside that moment, deterministically. A limiter that kept the old run_id counted
// itself seeded there and admitted a request against the empty Redis, which the seeding then
// overwrote (a request over budget, found by the fleet outage test).
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { after, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { limitsSchema } from '../src/config/index.js';
import { type LimitRule, LimitSet } from '../src/limits/index.js';
import type { Logger } from '../src/observability/index.js';
import { eventually } from './helpers/eventually.js';
import { type PrivateRedis, privateRedis, privateRedisUnavailable } from './helpers/private-redis.js';
import { loneRedisLimiter } from './helpers/redis-limiter.js';

/** The end of the RESP reply that starts at `at`, or -1 when it is not complete yet. */
function replyEnd(buf: Buffer, at: number): number {
  const nl = buf.indexOf('\r\n', at);
  if (nl < 0) return -1;
  const type = String.fromCharCode(buf[at]!);
  const n = Number(buf.toString('latin1', at + 1, nl));
  if (type === '+' || type === '-' || type === ':') return nl + 2;
  if (type === '$') {
    if (n < 0) return nl + 2;
    return buf.length >= nl + 2 + n + 2 ? nl + 2 + n + 2 : -1;
  }
  if (type === '*') {
    let end = nl + 2;
    for (let i = 0; i < n; i++) {
      end = replyEnd(buf, end);
      if (end < 0) return -1;
    }
    return end;
  }
  throw new Error(`unexpected RESP type ${type}`);
}

/**
 * A TCP proxy in front of Redis. Once armed, the next connection's answers pass up to and
 * including the first INFO answer (ioredis's ready check); every later answer is held until
 * `release()`.
 */
class HoldingProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #armed = false;
  #held: Buffer[] = [];
  #release: (() => void) | null = null;
  holding = false;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(redisPort: number): Promise<HoldingProxy> {
    const server = createServer();
    const proxy = new HoldingProxy(server);
    server.on('connection', (client) => proxy.#pipe(client, redisPort));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return proxy;
  }

  get url(): string {
    const a = this.#server.address() as { port: number };
    return `redis://127.0.0.1:${a.port}`;
  }

  arm(): void {
    this.#armed = true;
  }

  release(): void {
    this.#release?.();
  }

  #pipe(client: Socket, redisPort: number): void {
    const upstream = tcpConnect(redisPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      this.#sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        this.#sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    if (!this.#armed) {
      upstream.pipe(client);
      return;
    }
    // Armed for the next connection that reaches Redis: one refused while Redis is still down (the
    // limiter retrying before the restart) must not use it up, or no later connection is held.
    upstream.once('connect', () => {
      if (!this.#armed) {
        upstream.pipe(client);
        return;
      }
      this.#armed = false;
      this.#hold(client, upstream);
    });
  }

  /** Passes the answers up to and including the first INFO answer; holds the rest until release. */
  #hold(client: Socket, upstream: Socket): void {
    let pending = Buffer.alloc(0);
    let passedInfo = false;
    this.#release = () => {
      this.#release = null;
      this.holding = false;
      for (const b of this.#held) client.write(b);
      this.#held = [];
      passedInfo = true;
      upstream.removeAllListeners('data');
      upstream.pipe(client);
    };
    upstream.on('data', (chunk: Buffer) => {
      if (this.holding) {
        this.#held.push(chunk);
        return;
      }
      pending = Buffer.concat([pending, chunk]);
      let at = 0;
      for (;;) {
        const end = replyEnd(pending, at);
        if (end < 0) break;
        const isInfo = pending.subarray(at, end).includes('redis_version:');
        at = end;
        if (isInfo && !passedInfo) {
          passedInfo = true;
          client.write(pending.subarray(0, at));
          this.holding = true;
          this.#held.push(pending.subarray(at));
          pending = Buffer.alloc(0);
          return;
        }
      }
      client.write(pending.subarray(0, at));
      pending = pending.subarray(at);
    });
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}

const skip = privateRedisUnavailable() ?? false;

describe('Redis limiter reconnecting to a restarted Redis', { skip }, () => {
  let redis: PrivateRedis | null = null;
  after(async () => {
    await redis?.kill();
  });

  test('admits nothing between the connection being ready and its run_id being known', async () => {
    redis = await privateRedis();
    const proxy = await HoldingProxy.start(Number(new URL(redis.url).port));
    let seedings = 0;
    const limiter = await loneRedisLimiter(proxy.url, {
      prefix: 'reconnect',
      reservationTtlMs: 600_000,
      reconcile: async () => {
        seedings++;
      },
    });
    const rules: readonly LimitRule[] = LimitSet.from(
      limitsSchema.parse({
        rules: [{ id: 'b', scope: { tenant: 't' }, budget: { amount: '1', period: 'month' } }],
      }),
      [],
    ).rules;
    let n = 0;
    const ask = () => ({ holdId: `req_${++n}`, nowMs: Date.now(), tokens: 10, costMicros: 100n, rules });
    try {
      assert.equal(limiter.seeded, true, 'seeded at start');
      assert.equal(seedings, 1);
      const first = await limiter.reserve(ask());
      assert.equal(first.ok, true, 'admitted against the seeded Redis');

      // Redis dies and comes back empty (a new run_id); the limiter reconnects through the proxy,
      // which lets the ready check through and holds the limiter's INFO answer.
      await redis.kill();
      await eventually(() => !limiter.connected, 'the limiter to see Redis gone');
      proxy.arm();
      await redis.start();
      await eventually(() => proxy.holding && limiter.connected, 'the reconnection to be ready, INFO held');

      assert.equal(limiter.seeded, false, 'a ready connection to an unknown Redis is not seeded');
      const inWindow = await limiter.reserve(ask());
      assert.equal(inWindow.ok, false, 'nothing is admitted before the run_id is known');
      assert.equal(inWindow.ok === false && inWindow.kind, 'unavailable');
      assert.equal(seedings, 1, 'the seeding has not run yet');

      proxy.release();
      await eventually(() => limiter.seeded, 'the limiter to seed the new Redis');
      assert.equal(seedings, 2, 'the new Redis was seeded from the ledger');
      const afterSeed = await limiter.reserve(ask());
      assert.equal(afterSeed.ok, true, 'admitted once seeded');
    } finally {
      await limiter.close();
      await proxy.close();
    }
  });
});

/** A logger that keeps its warnings' messages and fields. */
function warnings(): {
  readonly log: Logger;
  readonly seen: { msg: string; fields: Record<string, unknown> }[];
} {
  const seen: { msg: string; fields: Record<string, unknown> }[] = [];
  const none = () => {};
  return {
    seen,
    log: {
      debug: none,
      info: none,
      error: none,
      infoFields: none,
      warn: (msg, fields = {}) => seen.push({ msg, fields }),
    },
  };
}

/** A promise the test settles. */
function gate(): { promise: Promise<void>; open(): void } {
  let open = () => {};
  const promise = new Promise<void>((r) => {
    open = r;
  });
  return { promise, open };
}

// What seeding waits for before it raises the counters to the ledger: every live node's usage
// posted. A node whose own writer runs behind (a saturated machine starves its lowered thread;
// the fleet outage test met one 10 s behind) must not seed from a ledger that lacks its own spend.
describe('Redis limiter seeding waits for the usage to be posted', { skip }, () => {
  let redis: PrivateRedis | null = null;
  after(async () => {
    await redis?.kill();
  });

  test("this node's own usage is waited for in full, past the wait for the other nodes", async () => {
    redis ??= await privateRedis();
    const { log, seen } = warnings();
    let flush: ReturnType<typeof gate> | null = null;
    let seedings = 0;
    const limiter = await loneRedisLimiter(redis.url, {
      prefix: 'slow-flush',
      seedWaitMs: 20,
      log,
      flushUsage: () => (flush?.promise ?? Promise.resolve()).then(() => null),
      reconcile: async () => {
        seedings++;
      },
    });
    try {
      assert.equal(seedings, 1, 'seeded at start');
      flush = gate();
      await redis.kill();
      await eventually(() => !limiter.connected, 'the limiter to see Redis gone');
      await redis.start();
      // Three times the wait for the other nodes has passed, each said in the log.
      await eventually(
        () => seen.filter((w) => w.msg.startsWith("limiter seeding waits for this node's usage")).length >= 3,
        'the limiter to say three times that it waits for its own usage',
      );
      assert.equal(limiter.connected, true);
      assert.equal(limiter.seeded, false, 'not seeded while its own usage is not posted');
      assert.equal(seedings, 1, 'the counters were not raised to a ledger that lacks its usage');
      flush.open();
      await eventually(() => limiter.seeded, 'the limiter to seed once its usage is posted');
      assert.equal(seedings, 2);
    } finally {
      await limiter.close();
    }
  });

  test('at start a node serves, unseeded, after seedWaitMs; a failure of its writer ends the wait for its usage', async () => {
    redis ??= await privateRedis();
    const { log, seen } = warnings();
    const flush = gate();
    let failure: string | null = null;
    let seedings = 0;
    const limiter = await loneRedisLimiter(redis.url, {
      prefix: 'start',
      seedWaitMs: 20,
      log,
      flushUsage: () => flush.promise.then(() => failure),
      reconcile: async () => {
        seedings++;
      },
    });
    try {
      assert.equal(limiter.connected, true);
      assert.equal(limiter.seeded, false, 'connect returned while its usage is still being posted');
      assert.equal(seedings, 0);
      // The writer reports a posting that fails (the spool's postedOrFailing answers its message).
      failure = 'ledger posting failed, the records are stored pending: boom';
      flush.open();
      await eventually(() => limiter.seeded, 'the seeding to go on');
      assert.equal(seedings, 1);
      const said = seen.find((w) => w.msg.startsWith("limiter seeding goes on though this node's usage"));
      assert.equal(said?.fields.error, failure);
    } finally {
      await limiter.close();
    }
  });

  test('the other live nodes are waited for until each has marked the Redis, or the wait ends', async () => {
    redis ??= await privateRedis();
    const namespace = `others-${Date.now()}`;
    const { log, seen } = warnings();
    let seedings = 0;
    const peer = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    const connecting = loneRedisLimiter(redis.url, {
      prefix: 'others',
      namespace,
      nodeId: 'me',
      liveNodeIds: async () => ['me', 'peer'],
      seedWaitMs: 600_000,
      log,
      reconcile: async () => {
        seedings++;
      },
    });
    try {
      const runId = /run_id:(\w+)/.exec(await peer.info('server'))![1]!;
      const marks = `${namespace}:{lim}:seeded-by:${runId}`;
      await eventually(
        async () => (await peer.smembers(marks)).includes('me'),
        'this node to mark the Redis',
      );
      assert.equal(seedings, 0, 'no seeding before the live peer has marked it');
      await peer.sadd(marks, 'peer');
      const limiter = await connecting;
      assert.equal(limiter.seeded, true);
      assert.equal(seedings, 1);
      await limiter.close();

      // A live node that never marks is waited for no longer than seedWaitMs, and named.
      const alone = await loneRedisLimiter(redis.url, {
        prefix: 'alone',
        liveNodeIds: async () => ['alone', 'ghost'],
        seedWaitMs: 30,
        log,
      });
      await eventually(() => alone.seeded, 'the seeding to go on without the node that never marks');
      const gaveUp = seen.find((w) => w.msg.startsWith('limiter seeding goes on without'));
      assert.deepEqual(gaveUp?.fields.nodes, ['ghost']);
      await alone.close();
    } finally {
      peer.disconnect();
    }
  });
});
