// A usage record for tests that need one: fixed fields, and what varies given by the caller.
import type { UsageRecord } from '../../src/store/index.js';

export function usageRecord(requestId: string, over: Partial<UsageRecord> = {}): UsageRecord {
  return {
    requestId,
    tenantId: 't',
    keyId: 'k',
    model: 'm',
    modelVersion: '1',
    cloud: 'azure',
    region: 'r',
    upstreamId: 'u',
    deployment: 'd',
    surface: 'chat',
    stream: false,
    status: 200,
    errorCode: null,
    usageExact: true,
    attempts: 1,
    tokensInputUncached: 1,
    tokensInputCached: 0,
    tokensOutput: 1,
    tokensReasoning: 0,
    startedAtMs: Date.UTC(2026, 5, 1),
    latencyMs: 1,
    overheadUs: 1,
    ...over,
  };
}

/**
 * Which of the requests a client saw complete have no usage record (lost), and which request ids
 * have more than one (doubled): the two figures every crash and chaos run reports.
 */
export function lostAndDoubled(
  usage: readonly Pick<UsageRecord, 'requestId'>[],
  completed: Iterable<string>,
): { lost: string[]; doubled: string[] } {
  const count = new Map<string, number>();
  for (const u of usage) count.set(u.requestId, (count.get(u.requestId) ?? 0) + 1);
  return {
    lost: [...completed].filter((id) => !count.has(id)),
    doubled: [...count].filter(([, n]) => n > 1).map(([id]) => id),
  };
}
