// The fleet's limiter: every node's reservations in one Redis, each reserve and each settle one
// Lua script call (one round trip), so a check and its taking are atomic across the fleet. The
// semantics are the in-process engine's (src/limits/limiter.ts), proven by the same suite.
//
// Seeding: a Redis that this node has not seen before (the first connection, or one that came
// back empty after a restart: its run_id changed) holds no budget spend. Until it is seeded, the
// limiter answers as if Redis were down. Seeding is exact: each node first has its own usage
// stored and posted (its spool flushed), marks itself done in Redis, waits (bounded) until every
// live node has done so, and then raises each budget counter to the ledger. Rate windows (60 s)
// are not restored: after a Redis restart a minute may admit up to twice a rate limit.
//
// Redis down: the `fail-closed` policy refuses what a limit governs (503 limits_unavailable);
// `local-share` admits against this node's share (limit ÷ live nodes) in a local engine. A settle
// that cannot reach Redis waits in a bounded queue and is sent when Redis is back; a hold it never
// frees expires with its TTL, and budget spend it never adds is restored from the ledger by the
// reconcile.
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { Logger } from '../observability/index.js';
import {
  type Actual,
  type BudgetAlert,
  crossed,
  type Headroom,
  type HeldPeriod,
  type Hold,
  type Limiter,
  type ReserveAsk,
  type Verdict,
  WINDOW_MS,
} from './limiter.js';
import { LocalLimiter } from './local-limiter.js';
import { budgetPeriodOf, type LimitRule } from './rules.js';

// KEYS: [1] the hold's settle marker, then six per rule: requests log, tokens log, tokens values,
// open holds, budget cell, budget hold expiries. ARGV: now, hold id, ttl, tokens, cost, rule count,
// then five per rule: rpm, tpm, concurrent, budget, period end (-1 = none).
const PRELUDE = `
local now = tonumber(ARGV[1])
local id = ARGV[2]
local ttl = tonumber(ARGV[3])
local tokens = tonumber(ARGV[4])
local cost = tonumber(ARGV[5])
local n = tonumber(ARGV[6])
local W = ${WINDOW_MS}
local floor = now - W
local function rule(i)
  local k = 1 + i * 6
  local a = 7 + i * 5
  return KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5], KEYS[k + 6],
    tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
end
`;

const RESERVE = `${PRELUDE}
local function dropOld(t, th)
  local old = redis.call('ZRANGEBYSCORE', t, '-inf', floor)
  local freed = 0
  for j = 1, #old, 500 do
    local part = {unpack(old, j, math.min(j + 499, #old))}
    local vals = redis.call('HMGET', th, unpack(part))
    for x = 1, #vals do freed = freed + (tonumber(vals[x]) or 0) end
    redis.call('HDEL', th, unpack(part))
  end
  if #old > 0 then redis.call('ZREMRANGEBYSCORE', t, '-inf', floor) end
  if freed ~= 0 then redis.call('HINCRBY', th, '_sum', -freed) end
end
local function expireHolds(b, bx)
  local old = redis.call('ZRANGEBYSCORE', bx, '-inf', now)
  for j = 1, #old do
    local h = redis.call('HGET', b, 'h:' .. old[j])
    if h and h ~= '0' then redis.call('HINCRBY', b, 'held', '-' .. h) end
    redis.call('HDEL', b, 'h:' .. old[j])
  end
  if #old > 0 then redis.call('ZREMRANGEBYSCORE', bx, '-inf', now) end
end
local function tokensWait(t, th, over)
  local rows = redis.call('ZRANGE', t, 0, -1, 'WITHSCORES')
  local freed = 0
  for j = 1, #rows, 2 do
    freed = freed + (tonumber(redis.call('HGET', th, rows[j]) or '0'))
    if freed >= over then return math.max(1, tonumber(rows[j + 1]) + W - now) end
  end
  return W
end
local function headroom()
  local out = {-1, -1, -1, -1, -1, -1}
  for i = 0, n - 1 do
    local r, t, th, c, b, bx, rpm, tpm = rule(i)
    if rpm >= 0 then
      local rem = rpm - redis.call('ZCARD', r)
      if out[1] < 0 or rem < out[2] then
        local last = redis.call('ZRANGE', r, -1, -1, 'WITHSCORES')
        out[1] = rpm; out[2] = math.max(0, rem)
        out[3] = (#last > 0) and math.max(0, tonumber(last[2]) + W - now) or 0
      end
    end
    if tpm >= 0 then
      local rem = tpm - tonumber(redis.call('HGET', th, '_sum') or '0')
      if out[4] < 0 or rem < out[5] then
        local last = redis.call('ZRANGE', t, -1, -1, 'WITHSCORES')
        out[4] = tpm; out[5] = math.max(0, rem)
        out[6] = (#last > 0) and math.max(0, tonumber(last[2]) + W - now) or 0
      end
    end
  end
  return out
end
local function refuse(i, kind, wait)
  local h = headroom()
  return {0, i, kind, wait, h[1], h[2], h[3], h[4], h[5], h[6]}
end
for i = 0, n - 1 do
  local r, t, th, c, b, bx, rpm, tpm, conc, budget, pend = rule(i)
  if rpm >= 0 then
    redis.call('ZREMRANGEBYSCORE', r, '-inf', floor)
    local count = redis.call('ZCARD', r)
    if count + 1 > rpm then
      if rpm < 1 then return refuse(i, 'requests', -1) end
      local e = redis.call('ZRANGE', r, count - rpm, count - rpm, 'WITHSCORES')
      return refuse(i, 'requests', math.max(1, tonumber(e[2]) + W - now))
    end
  end
  if tpm >= 0 then
    dropOld(t, th)
    local sum = tonumber(redis.call('HGET', th, '_sum') or '0')
    if tokens > tpm then return refuse(i, 'tokens', -1) end
    if sum + tokens > tpm then return refuse(i, 'tokens', tokensWait(t, th, sum + tokens - tpm)) end
  end
  if conc >= 0 then
    redis.call('ZREMRANGEBYSCORE', c, '-inf', now)
    if redis.call('ZCARD', c) + 1 > conc then return refuse(i, 'concurrent', conc < 1 and -1 or 1000) end
  end
  if budget >= 0 then
    expireHolds(b, bx)
    local spent = tonumber(redis.call('HGET', b, 'spent') or '0')
    local held = tonumber(redis.call('HGET', b, 'held') or '0')
    if spent + held + cost > budget then
      return refuse(i, 'budget', cost > budget and -1 or (pend - now))
    end
  end
end
for i = 0, n - 1 do
  local r, t, th, c, b, bx, rpm, tpm, conc, budget, pend = rule(i)
  if rpm >= 0 then
    redis.call('ZADD', r, now, id)
    redis.call('PEXPIRE', r, W * 2)
  end
  if tpm >= 0 then
    redis.call('ZADD', t, now, id)
    redis.call('HSET', th, id, tokens)
    redis.call('HINCRBY', th, '_sum', tokens)
    redis.call('PEXPIRE', t, W * 2)
    redis.call('PEXPIRE', th, W * 2)
  end
  if conc >= 0 then
    redis.call('ZADD', c, now + ttl, id)
    redis.call('PEXPIRE', c, ttl * 2)
  end
  if budget >= 0 then
    redis.call('HSET', b, 'h:' .. id, ARGV[5])
    redis.call('HINCRBY', b, 'held', ARGV[5])
    redis.call('ZADD', bx, now + ttl, id)
    redis.call('PEXPIREAT', b, pend + 35 * 86400000)
    redis.call('PEXPIREAT', bx, pend + 35 * 86400000)
  end
end
local h = headroom()
return {1, -1, '', 0, h[1], h[2], h[3], h[4], h[5], h[6]}
`;

// ARGV[7 + 5n]: 1 = cancel (the request's place in the requests log is freed too).
const SETTLE = `${PRELUDE}
local cancel = ARGV[7 + 5 * n] == '1'
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ttl * 2) then return {} end
local out = {}
for i = 0, n - 1 do
  local r, t, th, c, b, bx, rpm, tpm, conc, budget = rule(i)
  if cancel and rpm >= 0 then redis.call('ZREM', r, id) end
  if tpm >= 0 then
    local v = redis.call('HGET', th, id)
    if v then
      redis.call('HSET', th, id, tokens)
      if tokens ~= tonumber(v) then redis.call('HINCRBY', th, '_sum', tokens - tonumber(v)) end
    end
  end
  if conc >= 0 then redis.call('ZREM', c, id) end
  if budget >= 0 then
    local h = redis.call('HGET', b, 'h:' .. id)
    if h then
      if h ~= '0' then redis.call('HINCRBY', b, 'held', '-' .. h) end
      redis.call('HDEL', b, 'h:' .. id)
      redis.call('ZREM', bx, id)
    end
    local before = redis.call('HGET', b, 'spent') or '0'
    redis.call('HINCRBY', b, 'spent', ARGV[5])
    out[#out + 1] = i
    out[#out + 1] = before
    out[#out + 1] = redis.call('HGET', b, 'spent')
  end
end
return out
`;

// KEYS: budget cell. ARGV: ledger figure. Raises spent to the ledger's when behind; returns the old.
const RECONCILE = `
local raw = redis.call('HGET', KEYS[1], 'spent') or '0'
if tonumber(raw) < tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], 'spent', ARGV[1]) end
return raw
`;

type Scripted = Redis & {
  entReserve(...args: (string | number)[]): Promise<(string | number)[]>;
  entSettle(...args: (string | number)[]): Promise<(string | number)[]>;
  entReconcile(...args: (string | number)[]): Promise<string>;
};

export interface RedisLimiterOptions {
  readonly url: string;
  readonly namespace: string;
  readonly reservationTtlMs: number;
  readonly onRedisDown: 'fail-closed' | 'local-share';
  /** Live nodes in the fleet: under local-share, each node admits limit ÷ this. */
  readonly liveNodes: () => number;
  readonly log: Logger;
  readonly onAlert?: (a: BudgetAlert) => void;
  /** Redis round trips, counted for the metrics and the bench. */
  readonly onRoundTrip?: (op: 'reserve' | 'settle') => void;
  /** This node's id, and the ids of the nodes alive now (the registry): who must flush before seeding. */
  readonly nodeId: string;
  readonly liveNodeIds: () => Promise<readonly string[]>;
  /**
   * Has this node's usage stored and posted (its spool flushed): null once it is, or the message of
   * a failure of the writer that stopped the wait (a posting that keeps failing must not hold the
   * seeding for ever).
   */
  readonly flushUsage: () => Promise<string | null>;
  /** Raises every budget counter (of this limiter) to the ledger's figure. */
  readonly reconcile: (limiter: Limiter) => Promise<void>;
  /**
   * How long seeding waits for the other live nodes to post their usage (a node that dies drops
   * out of the live ones within three heartbeats; its own is waited for in full), and how long
   * connect waits for the seeding before it returns.
   */
  readonly seedWaitMs?: number;
}

const MAX_PENDING_SETTLES = 100_000;
/** Seeding waits this long for the other live nodes' usage: 30 s. */
const SEED_WAIT_MS = 30_000;

export class RedisLimiter implements Limiter {
  readonly #redis: Scripted;
  readonly #opts: RedisLimiterOptions;
  readonly #local: LocalLimiter;
  readonly #pending: { hold: Hold; actual: Actual; cancel: boolean }[] = [];
  /** Settles lost because the queue was full (their spend comes back from the ledger's reconcile). */
  droppedSettles = 0;
  /** The run_id of the Redis connected now, and of the one whose counters were seeded. */
  #runId: string | null = null;
  #seededRunId: string | null = null;
  #seeding: Promise<void> | null = null;
  #downLogged = false;

  private constructor(opts: RedisLimiterOptions) {
    this.#opts = opts;
    this.#redis = new Redis(opts.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: 2_000,
      // Commands issued in the same tick (many requests at once) go out in one write.
      enableAutoPipelining: true,
    }) as Scripted;
    this.#redis.on('error', (err: Error) => opts.log.warn('limiter redis error', { error: err.message }));
    // A new connection may be to a new Redis (restarted, empty): it counts as seeded only once its
    // run_id is known again and matches the seeded one. With the old run_id kept, a request in the
    // moment before INFO answered was admitted against the empty Redis, and the seeding's raise to
    // the ledger then overwrote that admission's spend (one request over the budget, found so).
    // (While disconnected, `seeded` is false anyway: it asks for a connection.)
    this.#redis.on('ready', () => {
      this.#runId = null;
      void this.#onReady();
    });
    this.#redis.defineCommand('entReserve', { lua: RESERVE });
    this.#redis.defineCommand('entSettle', { lua: SETTLE });
    this.#redis.defineCommand('entReconcile', { numberOfKeys: 1, lua: RECONCILE });
    this.#local = new LocalLimiter({
      reservationTtlMs: opts.reservationTtlMs,
      share: opts.liveNodes,
      ...(opts.onAlert ? { onAlert: opts.onAlert } : {}),
    });
  }

  static async connect(opts: RedisLimiterOptions): Promise<RedisLimiter> {
    const l = new RedisLimiter(opts);
    await l.#redis
      .connect()
      .catch((err: Error) => opts.log.warn('limiter redis unreachable at start', { error: err.message }));
    // A node starts serving once seeded, or after seedWaitMs if its own usage is still being
    // posted (a large spool recovered after a crash): until the seeding ends, it answers as if
    // Redis were down.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      l.#onReady(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, opts.seedWaitMs ?? SEED_WAIT_MS);
      }),
    ]).finally(() => clearTimeout(timer));
    return l;
  }

  get connected(): boolean {
    return this.#redis.status === 'ready';
  }

  /** Whether the counters in the Redis connected now have been seeded from the ledger. */
  get seeded(): boolean {
    return this.connected && this.#runId !== null && this.#runId === this.#seededRunId;
  }

  #onReady(): Promise<void> {
    if (!this.connected) return Promise.resolve();
    void this.#flushPending();
    this.#seeding ??= this.#seed().finally(() => {
      this.#seeding = null;
    });
    return this.#seeding;
  }

  async #seed(): Promise<void> {
    try {
      const info = await this.#redis.info('server');
      const runId = /run_id:(\w+)/.exec(info)?.[1] ?? 'unknown';
      this.#runId = runId;
      if (runId === this.#seededRunId) return;
      const o = this.#opts;
      const waitMs = o.seedWaitMs ?? SEED_WAIT_MS;
      await this.#flushOwnUsage(waitMs);
      const marks = `${o.namespace}:{lim}:seeded-by:${runId}`;
      await this.#redis.multi().sadd(marks, o.nodeId).pexpire(marks, 86_400_000).exec();
      const deadline = Date.now() + waitMs;
      for (;;) {
        const [done, live] = await Promise.all([this.#redis.smembers(marks), o.liveNodeIds()]);
        const missing = live.filter((id) => !done.includes(id));
        if (missing.length === 0) break;
        if (Date.now() >= deadline) {
          o.log.warn('limiter seeding goes on without live nodes that have not posted their usage', {
            nodes: missing,
            waitedMs: waitMs,
          });
          break;
        }
        await delay(50);
      }
      await o.reconcile(this);
      this.#seededRunId = runId;
      this.#downLogged = false;
      o.log.info('limiter counters seeded from the ledger', { redisRunId: runId });
    } catch (err) {
      this.#opts.log.warn('limiter seeding failed; retried at the next request', {
        error: (err as Error).message,
      });
    }
  }

  /**
   * This node's own usage, stored and posted, waited for in full however long it takes: a node
   * whose writer runs behind (a saturated machine starves its lowered thread) must not raise the
   * counters to a ledger that lacks its own spend, which would admit that spend again. Under
   * fail-closed it answers 503 meanwhile; every `waitMs` it says why in the log. Only a failure
   * of the writer ends the wait early: then the seeding goes on, and says so.
   */
  async #flushOwnUsage(waitMs: number): Promise<void> {
    const o = this.#opts;
    const startedMs = Date.now();
    const timer = setInterval(
      () =>
        o.log.warn("limiter seeding waits for this node's usage to be posted", {
          waitedMs: Date.now() - startedMs,
        }),
      waitMs,
    );
    timer.unref();
    try {
      const failure = await o.flushUsage();
      if (failure !== null)
        o.log.warn("limiter seeding goes on though this node's usage could not all be posted", {
          error: failure,
        });
    } finally {
      clearInterval(timer);
    }
  }

  get pendingSettles(): number {
    return this.#pending.length;
  }

  #prefix(ruleId: string): string {
    // One hash tag for every key, so one script's keys share a slot on a Redis Cluster too.
    return `${this.#opts.namespace}:{lim}:${ruleId}`;
  }

  #keys(holdId: string, rules: readonly LimitRule[], periods: readonly HeldPeriod[]): string[] {
    const keys = [`${this.#opts.namespace}:{lim}:settled:${holdId}`];
    for (const r of rules) {
      const p = this.#prefix(r.id);
      const period = periods.find((x) => x.ruleId === r.id)?.periodId ?? '-';
      keys.push(`${p}:r`, `${p}:t`, `${p}:th`, `${p}:c`, `${p}:b:${period}`, `${p}:bx:${period}`);
    }
    return keys;
  }

  #args(
    hold: { holdId: string; tokens: number; costMicros: bigint; rules: readonly LimitRule[] },
    periods: readonly HeldPeriod[],
    nowMs: number,
  ): (string | number)[] {
    const args: (string | number)[] = [
      nowMs,
      hold.holdId,
      this.#opts.reservationTtlMs,
      hold.tokens,
      hold.costMicros.toString(),
      hold.rules.length,
    ];
    for (const r of hold.rules) {
      const p = periods.find((x) => x.ruleId === r.id);
      args.push(
        r.rpm ?? -1,
        r.tpm ?? -1,
        r.concurrent ?? -1,
        r.budget ? r.budget.amountMicros.toString() : -1,
        p ? p.endMs : -1,
      );
    }
    return args;
  }

  async reserve(ask: ReserveAsk): Promise<Verdict> {
    if (!this.connected) return this.#down(ask, 'Redis is not connected');
    if (!this.seeded) {
      void this.#onReady();
      return this.#down(ask, 'the counters in Redis are being seeded from the ledger');
    }
    const periods: HeldPeriod[] = ask.rules.flatMap((r) => {
      if (!r.budget) return [];
      const p = budgetPeriodOf(r, ask.nowMs);
      return [{ ruleId: r.id, periodId: p.id, endMs: p.endMs }];
    });
    const keys = this.#keys(ask.holdId, ask.rules, periods);
    let out: (string | number)[];
    try {
      this.#opts.onRoundTrip?.('reserve');
      out = await this.#redis.entReserve(keys.length, ...keys, ...this.#args(ask, periods, ask.nowMs));
    } catch (err) {
      return this.#down(ask, (err as Error).message);
    }
    const num = (i: number) => Number(out[i]);
    const headroom = (l: number, rem: number, reset: number): Headroom | null =>
      num(l) < 0 ? null : { limit: num(l), remaining: num(rem), resetMs: num(reset) };
    const requests = headroom(4, 5, 6);
    const tokens = headroom(7, 8, 9);
    if (num(0) === 1)
      return { ok: true, hold: { ...ask, atMs: ask.nowMs, periods, engine: 'redis' }, requests, tokens };
    const wait = num(3);
    return {
      ok: false,
      kind: String(out[2]) as 'requests' | 'tokens' | 'concurrent' | 'budget',
      rule: ask.rules[num(1)]!,
      retryAfterMs: wait < 0 ? null : wait,
      requests,
      tokens,
    };
  }

  #down(ask: ReserveAsk, reason: string): Verdict {
    // Once per outage, not once per request (the metric counts every refusal).
    if (!this.#downLogged) {
      this.#downLogged = true;
      this.#opts.log.warn('limiter unavailable', { reason, policy: this.#opts.onRedisDown });
    }
    if (this.#opts.onRedisDown === 'local-share') return this.#local.reserve(ask);
    return { ok: false, kind: 'unavailable', reason };
  }

  settle(hold: Hold, actual: Actual, nowMs: number): Promise<void> {
    return this.#send(hold, actual, nowMs, false);
  }

  cancel(hold: Hold, nowMs: number): Promise<void> {
    return this.#send(hold, { tokens: 0, costMicros: 0n }, nowMs, true);
  }

  async #send(hold: Hold, actual: Actual, nowMs: number, cancel: boolean): Promise<void> {
    if (hold.engine === 'local') {
      if (cancel) this.#local.cancel(hold, nowMs);
      else this.#local.settle(hold, actual, nowMs);
      return;
    }
    const keys = this.#keys(hold.holdId, hold.rules, hold.periods);
    const args = this.#args(
      { ...hold, tokens: actual.tokens, costMicros: actual.costMicros },
      hold.periods,
      nowMs,
    );
    try {
      this.#opts.onRoundTrip?.('settle');
      const out = await this.#redis.entSettle(keys.length, ...keys, ...args, cancel ? '1' : '0');
      this.#alerts(hold, out);
    } catch {
      if (this.#pending.length >= MAX_PENDING_SETTLES) this.droppedSettles++;
      else this.#pending.push({ hold, actual, cancel });
    }
  }

  #alerts(hold: Hold, out: (string | number)[]): void {
    if (!this.#opts.onAlert) return;
    for (let i = 0; i + 2 < out.length; i += 3) {
      const r = hold.rules[Number(out[i])]!;
      const before = BigInt(out[i + 1]!);
      const after = BigInt(out[i + 2]!);
      const periodId = hold.periods.find((p) => p.ruleId === r.id)!.periodId;
      for (const fraction of crossed(r.budget!.alertAt, r.budget!.amountMicros, before, after))
        this.#opts.onAlert({ rule: r, periodId, fraction, spentMicros: after });
    }
  }

  async #flushPending(): Promise<void> {
    const batch = this.#pending.splice(0, this.#pending.length);
    for (const p of batch) await this.#send(p.hold, p.actual, p.hold.atMs, p.cancel);
  }

  async budgetState(rule: LimitRule, periodId: string): Promise<{ spentMicros: bigint; heldMicros: bigint }> {
    const [spent, held] = await this.#redis.hmget(`${this.#prefix(rule.id)}:b:${periodId}`, 'spent', 'held');
    return { spentMicros: BigInt(spent ?? '0'), heldMicros: BigInt(held ?? '0') };
  }

  async reconcile(rule: LimitRule, periodId: string, ledgerMicros: bigint): Promise<bigint> {
    const before = await this.#redis.entReconcile(
      `${this.#prefix(rule.id)}:b:${periodId}`,
      ledgerMicros.toString(),
    );
    return BigInt(before) - ledgerMicros;
  }

  async close(): Promise<void> {
    // quit() waits for a connection that may never come: a Redis that is down is just dropped.
    if (this.connected) await this.#redis.quit().catch(() => undefined);
    else this.#redis.disconnect();
  }
}
