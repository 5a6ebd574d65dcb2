// A Redis limiter as one node with no spool opens it, for tests and benches: no other node to wait
// for, nothing to flush, a seeding that raises nothing unless the caller says otherwise, and a new
// namespace each time so that runs never share counters.
import { randomBytes } from 'node:crypto';
import { RedisLimiter, type RedisLimiterOptions } from '../../src/limits/index.js';
import { silentLogger } from '../../src/observability/index.js';

export function loneRedisLimiter(
  url: string,
  o: Partial<Omit<RedisLimiterOptions, 'url'>> & { readonly prefix?: string } = {},
): Promise<RedisLimiter> {
  const { prefix = 'test', ...rest } = o;
  return RedisLimiter.connect({
    url,
    namespace: `${prefix}-${randomBytes(4).toString('hex')}`,
    reservationTtlMs: 900_000,
    onRedisDown: 'fail-closed',
    liveNodes: () => 1,
    liveNodeIds: async () => [],
    nodeId: prefix,
    flushUsage: async () => null,
    reconcile: async () => {},
    log: silentLogger,
    ...rest,
  });
}
