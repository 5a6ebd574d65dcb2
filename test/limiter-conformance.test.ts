// One suite, two engines: the in-process limiter and the Redis limiter must give the same answer
// to the same sequence of reservations, settles, cancels and clock moves. Time is an argument
// (no sleeps); each Redis run uses its own namespace on the machine's Redis.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { limitsSchema } from '../src/config/index.js';
import {
  type BudgetAlert,
  type Hold,
  type Limiter,
  type LimitRule,
  LimitSet,
  LocalLimiter,
  type Verdict,
} from '../src/limits/index.js';
import { loneRedisLimiter } from './helpers/redis-limiter.js';

const redisUrl = process.env.ENTENTE_TEST_REDIS_URL;
const TTL = 600_000;
const T0 = Date.UTC(2026, 11, 2, 10, 0, 0);

function rules(yaml: Record<string, unknown>[]): readonly LimitRule[] {
  return LimitSet.from(limitsSchema.parse({ rules: yaml }), []).rules;
}

interface Engine {
  readonly name: string;
  readonly skip: string | false;
  open(alerts?: BudgetAlert[]): Promise<Limiter>;
}

const engines: Engine[] = [
  {
    name: 'local',
    skip: false,
    async open(alerts) {
      return new LocalLimiter({ reservationTtlMs: TTL, onAlert: (a) => alerts?.push(a) });
    },
  },
  {
    name: 'redis',
    skip: redisUrl ? false : 'Redis is not reachable (ENTENTE_TEST_REDIS_URL unset)',
    async open(alerts) {
      return loneRedisLimiter(redisUrl!, {
        prefix: 'limtest',
        reservationTtlMs: TTL,
        onAlert: (a) => alerts?.push(a),
      });
    },
  },
];

let seq = 0;
const ask = (rs: readonly LimitRule[], nowMs: number, tokens = 1, costMicros = 0n) => ({
  holdId: `req_${++seq}`,
  nowMs,
  tokens,
  costMicros,
  rules: rs,
});

function held(v: Verdict): Hold {
  assert.equal(
    v.ok,
    true,
    `expected admission, got ${JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x))}`,
  );
  return (v as { hold: Hold }).hold;
}

function refused(v: Verdict, kind: string): { retryAfterMs: number | null } {
  assert.equal(v.ok, false);
  assert.equal(v.kind, kind);
  return v as { retryAfterMs: number | null };
}

for (const e of engines) {
  describe(`limiter conformance: ${e.name}`, { skip: e.skip }, () => {
    test('requests per minute is a sliding window: never more than the limit in any 60 s', async () => {
      const l = await e.open();
      const rs = rules([{ id: 'rpm', scope: { tenant: 't' }, requestsPerMinute: 3 }]);
      held(await l.reserve(ask(rs, T0)));
      held(await l.reserve(ask(rs, T0 + 30_000)));
      const third = held(await l.reserve(ask(rs, T0 + 30_000)));
      assert.equal((await l.reserve(ask(rs, T0 + 59_999))).ok, false);
      // The first leaves the window at T0 + 60 s: one place, not three (no fixed-window edge).
      held(await l.reserve(ask(rs, T0 + 60_000)));
      const r = refused(await l.reserve(ask(rs, T0 + 60_000)), 'requests');
      assert.equal(r.retryAfterMs, 30_000);
      // A cancelled request gives its place back.
      await l.cancel(third, T0 + 60_001);
      const ok = await l.reserve(ask(rs, T0 + 60_001));
      held(ok);
      assert.deepEqual((ok as { requests: unknown }).requests, { limit: 3, remaining: 0, resetMs: 60_000 });
      await l.close();
    });

    test('tokens per minute: reserved worst cases count until settled to the actual figure', async () => {
      const l = await e.open();
      const rs = rules([{ id: 'tpm', scope: { key: 'k' }, tokensPerMinute: 100 }]);
      const a = held(await l.reserve(ask(rs, T0, 60)));
      const r = refused(await l.reserve(ask(rs, T0 + 1_000, 50)), 'tokens');
      assert.equal(r.retryAfterMs, 59_000);
      await l.settle(a, { tokens: 20, costMicros: 0n }, T0 + 2_000);
      const b = await l.reserve(ask(rs, T0 + 2_000, 50));
      held(b);
      assert.equal((b as { tokens: { remaining: number } }).tokens.remaining, 30);
      // A request larger than the whole limit can never pass: no retry-after.
      assert.equal(refused(await l.reserve(ask(rs, T0 + 2_000, 101)), 'tokens').retryAfterMs, null);
      await l.close();
    });

    test('concurrent requests: open holds count until settled, and expire with their TTL', async () => {
      const l = await e.open();
      const rs = rules([{ id: 'conc', scope: { model: 'm' }, concurrentRequests: 2 }]);
      const a = held(await l.reserve(ask(rs, T0)));
      held(await l.reserve(ask(rs, T0)));
      refused(await l.reserve(ask(rs, T0 + 1)), 'concurrent');
      await l.settle(a, { tokens: 1, costMicros: 0n }, T0 + 2);
      held(await l.reserve(ask(rs, T0 + 3)));
      refused(await l.reserve(ask(rs, T0 + 4)), 'concurrent');
      // A dead node never settles: its holds come back after the TTL.
      held(await l.reserve(ask(rs, T0 + TTL + 3)));
      await l.close();
    });

    test('budgets: settled spend + open worst cases stay within the budget; alerts fire once', async () => {
      const alerts: BudgetAlert[] = [];
      const l = await e.open(alerts);
      const rs = rules([
        { id: 'b', scope: { tenant: 't' }, budget: { amount: '0.001', period: 'month', alertAt: [0.5, 1] } },
      ]);
      const a = held(await l.reserve(ask(rs, T0, 1, 400n)));
      held(await l.reserve(ask(rs, T0, 1, 400n)));
      const r = refused(await l.reserve(ask(rs, T0, 1, 400n)), 'budget');
      assert.equal(r.retryAfterMs, Date.UTC(2027, 0, 1) - T0, 'the budget resets at the next month');
      await l.settle(a, { tokens: 1, costMicros: 100n }, T0 + 1);
      await l.settle(a, { tokens: 1, costMicros: 100n }, T0 + 1); // idempotent
      assert.deepEqual(await l.budgetState(rs[0]!, '2026-12'), { spentMicros: 100n, heldMicros: 400n });
      const c = held(await l.reserve(ask(rs, T0 + 2, 1, 400n)));
      await l.settle(c, { tokens: 1, costMicros: 450n }, T0 + 3);
      assert.deepEqual(
        alerts.map((x) => [x.fraction, x.spentMicros]),
        [[0.5, 550n]],
      );
      // A request costing more than the whole budget can never pass.
      assert.equal(refused(await l.reserve(ask(rs, T0 + 4, 1, 1_001n)), 'budget').retryAfterMs, null);
      // The next month starts empty.
      held(await l.reserve(ask(rs, Date.UTC(2027, 0, 1), 1, 1_000n)));
      // The ledger is the truth: a counter behind it is raised, and the drift reported.
      assert.equal(await l.reconcile(rs[0]!, '2026-12', 700n), -150n);
      assert.equal((await l.budgetState(rs[0]!, '2026-12')).spentMicros, 700n);
      assert.equal(await l.reconcile(rs[0]!, '2026-12', 600n), 100n);
      assert.equal((await l.budgetState(rs[0]!, '2026-12')).spentMicros, 700n);
      await l.close();
    });

    test('every rule or none: a refusal on one rule takes nothing from the others', async () => {
      const l = await e.open();
      const rs = rules([
        { id: 'wide', scope: { tenant: 't' }, requestsPerMinute: 10, tokensPerMinute: 1_000 },
        { id: 'narrow', scope: { key: 'k' }, requestsPerMinute: 1 },
      ]);
      held(await l.reserve(ask(rs, T0, 100)));
      refused(await l.reserve(ask(rs, T0, 100)), 'requests');
      const v = await l.reserve(ask([rs[0]!], T0, 100));
      assert.deepEqual((v as { requests: unknown }).requests, { limit: 10, remaining: 8, resetMs: 60_000 });
      assert.deepEqual((v as { tokens: unknown }).tokens, { limit: 1_000, remaining: 800, resetMs: 60_000 });
      await l.close();
    });
  });
}

// The same random history, applied to both engines, gives the same verdicts and the same spend.
describe('the two engines agree on random histories', { skip: engines[1]!.skip }, () => {
  type Op =
    | { op: 'reserve'; rule: number; tokens: number; cost: number }
    | { op: 'settle'; which: number; tokens: number; cost: number }
    | { op: 'cancel'; which: number }
    | { op: 'advance'; ms: number };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({
      op: fc.constant('reserve' as const),
      rule: fc.nat(2),
      tokens: fc.integer({ min: 1, max: 60 }),
      cost: fc.integer({ min: 0, max: 300 }),
    }),
    fc.record({
      op: fc.constant('settle' as const),
      which: fc.nat(50),
      tokens: fc.integer({ min: 0, max: 60 }),
      cost: fc.integer({ min: 0, max: 300 }),
    }),
    fc.record({ op: fc.constant('cancel' as const), which: fc.nat(50) }),
    fc.record({
      op: fc.constant('advance' as const),
      ms: fc.oneof(fc.integer({ min: 1, max: 5_000 }), fc.constant(60_000), fc.constant(TTL)),
    }),
  );
  test('reserve, settle, cancel and time, as a property', async () => {
    const rs = rules([
      { id: 'a', scope: { tenant: 't' }, requestsPerMinute: 5, tokensPerMinute: 150, concurrentRequests: 3 },
      { id: 'b', scope: { key: 'k' }, budget: { amount: '0.001', period: 'day' } },
      {
        id: 'c',
        scope: { model: 'm' },
        requestsPerMinute: 4,
        budget: { amount: '0.0005', period: { days: 2, from: '2026-01-01' } },
      },
    ]);
    const sets = [[rs[0]!], [rs[0]!, rs[1]!], [rs[1]!, rs[2]!]];
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 40 }), async (ops) => {
        const [local, redis] = [await engines[0]!.open(), await engines[1]!.open()];
        let now = T0;
        const holds: [Hold, Hold][] = [];
        try {
          for (const o of ops) {
            if (o.op === 'advance') now += o.ms;
            else if (o.op === 'reserve') {
              const a = ask(sets[o.rule]!, now, o.tokens, BigInt(o.cost));
              const [x, y] = [await local.reserve(a), await redis.reserve(a)];
              assert.deepEqual(verdictShape(y), verdictShape(x));
              if (x.ok && y.ok) holds.push([x.hold, y.hold]);
            } else {
              const h = holds[o.which % Math.max(1, holds.length)];
              if (!h) continue;
              if (o.op === 'cancel') await Promise.all([local.cancel(h[0], now), redis.cancel(h[1], now)]);
              else {
                const actual = { tokens: o.tokens, costMicros: BigInt(o.cost) };
                await Promise.all([local.settle(h[0], actual, now), redis.settle(h[1], actual, now)]);
              }
            }
          }
          for (const r of [rs[1]!, rs[2]!])
            for (const p of ['2026-12-02', '2026-12-01', '2026-12-03', '2026-12-04'])
              assert.deepEqual(await redis.budgetState(r, p), await local.budgetState(r, p));
        } finally {
          await Promise.all([local.close(), redis.close()]);
        }
      }),
      { numRuns: 40 },
    );
  });
});

function verdictShape(v: Verdict): unknown {
  if (v.ok) return { ok: true, requests: v.requests, tokens: v.tokens };
  if (v.kind === 'unavailable') return v;
  return {
    ok: false,
    kind: v.kind,
    rule: v.rule.id,
    retryAfterMs: v.retryAfterMs,
    requests: v.requests,
    tokens: v.tokens,
  };
}

describe('Redis unreachable: the configured policy', () => {
  const open = (policy: 'fail-closed' | 'local-share') =>
    // Nothing listens on port 1.
    loneRedisLimiter('redis://127.0.0.1:1', {
      prefix: 'down',
      reservationTtlMs: TTL,
      onRedisDown: policy,
      liveNodes: () => 3,
    });
  const rs = () => rules([{ id: 'r', scope: { tenant: 't' }, requestsPerMinute: 30 }]);

  test('fail-closed refuses whatever a limit governs', async () => {
    const l = await open('fail-closed');
    const v = await l.reserve(ask(rs(), T0));
    assert.equal(v.ok, false);
    assert.equal(v.kind, 'unavailable');
    await l.close();
  });

  test('local-share admits this node’s share: the limit ÷ live nodes', async () => {
    const l = await open('local-share');
    const r = rs();
    for (let i = 0; i < 10; i++) held(await l.reserve(ask(r, T0)));
    const v = refused(await l.reserve(ask(r, T0)), 'requests');
    assert.equal(v.retryAfterMs, 60_000);
    await l.close();
  });
});
