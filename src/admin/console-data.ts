// The read models behind the web console, computed from the usage log, the route table and the
// rollout log. Pure functions over records; the admin API serves them as JSON.
import type { CloudTerm } from '../agreements/index.js';
import { gateFor, type RolloutEvent, stagesNow } from '../rollout/index.js';
import type { Catalog } from '../routing/index.js';
import {
  LATENCY_BOUNDS_MS,
  OVERHEAD_BOUNDS_US,
  rollupOf,
  type TrafficRow,
  type UsageRecord,
} from '../store/index.js';

export interface TrafficBucket {
  readonly t: number;
  requests: number;
  errors: number;
  failovers: number;
  tokensInput: number;
  tokensOutput: number;
  readonly byCloud: Record<string, number>;
}

/** The p-th percentile of a histogram: the upper bound of the bucket it falls in (null: no data, or above the last bound). */
function histPercentile(
  counts: readonly number[],
  bounds: readonly number[],
  p: number,
  scale = 1,
): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const want = Math.ceil((p / 100) * total);
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i]!;
    if (seen >= want) return i < bounds.length ? bounds[i]! / scale : null;
  }
  return null;
}

function addInto(into: number[], from: readonly number[]): void {
  for (let i = 0; i < from.length; i++) into[i] = (into[i] ?? 0) + from[i]!;
}

/** Records as traffic rows (what the store's roll-ups give), bucketed exactly: for tests and tools. */
export function trafficRowsOf(
  records: readonly UsageRecord[],
  fromMs: number,
  bucketMs: number,
): TrafficRow[] {
  return records.map((r) => {
    const m = rollupOf([r])[0]!;
    const { minuteMs: _m, tenantId: _t, keyId: _k, deployment: _d, ...counts } = m;
    return { ...counts, t: fromMs + Math.floor((r.startedAtMs - fromMs) / bucketMs) * bucketMs };
  });
}

/**
 * Requests, tokens and errors per time bucket, per cloud and per model, with latency and overhead
 * percentiles (bucket upper bounds), from the store's per-minute roll-ups: every node's traffic.
 */
export function traffic(
  rows: readonly TrafficRow[],
  fromMs: number,
  toMs: number,
  bucketMs: number,
  primaryCloud: string,
  /** Whether the agreement governs a model: only governed traffic counts toward the primary's share. */
  governed: (model: string) => boolean = () => true,
) {
  const n = Math.max(1, Math.ceil((toMs - fromMs) / bucketMs));
  const buckets: TrafficBucket[] = Array.from({ length: n }, (_, i) => ({
    t: fromMs + i * bucketMs,
    requests: 0,
    errors: 0,
    failovers: 0,
    tokensInput: 0,
    tokensOutput: 0,
    byCloud: {},
  }));
  const byCloud: Record<string, { requests: number; errors: number; tokens: number }> = {};
  const byModel: Record<string, { requests: number; errors: number; tokens: number }> = {};
  const latency: number[] = [];
  const overhead: number[] = [];
  let requests = 0;
  let errors = 0;
  let failovers = 0;
  let primary = 0;
  let served = 0;
  for (const r of rows) {
    if (r.t < fromMs || r.t >= toMs) continue;
    const b = buckets[Math.floor((r.t - fromMs) / bucketMs)]!;
    const cloud = r.cloud || '(none)';
    const tokens = r.tokensInput + r.tokensOutput;
    b.requests += r.requests;
    b.errors += r.errors;
    b.failovers += r.failovers;
    b.tokensInput += r.tokensInput;
    b.tokensOutput += r.tokensOutput;
    b.byCloud[cloud] = (b.byCloud[cloud] ?? 0) + r.requests;
    requests += r.requests;
    errors += r.errors;
    failovers += r.failovers;
    if (r.cloud && governed(r.model)) {
      served += r.requests;
      if (r.cloud === primaryCloud) primary += r.requests;
    }
    for (const [map, k] of [
      [byCloud, cloud],
      [byModel, r.model || '(none)'],
    ] as const) {
      map[k] ??= { requests: 0, errors: 0, tokens: 0 };
      map[k].requests += r.requests;
      map[k].errors += r.errors;
      map[k].tokens += tokens;
    }
    addInto(latency, r.latency);
    addInto(overhead, r.overhead);
  }
  return {
    fromMs,
    toMs,
    bucketMs,
    primaryCloud,
    buckets,
    totals: {
      requests,
      errors,
      failovers,
      primaryShare: served === 0 ? null : primary / served,
      /** Upper bounds of the histogram buckets the percentiles fall in (null: above 60 s). */
      latencyMs: {
        p50: histPercentile(latency, LATENCY_BOUNDS_MS, 50),
        p95: histPercentile(latency, LATENCY_BOUNDS_MS, 95),
        p99: histPercentile(latency, LATENCY_BOUNDS_MS, 99),
      },
      overheadMs: {
        p50: histPercentile(overhead, OVERHEAD_BOUNDS_US, 50, 1000),
        p99: histPercentile(overhead, OVERHEAD_BOUNDS_US, 99, 1000),
      },
    },
    byCloud,
    byModel,
  };
}

/** Recent requests with where they went and why, newest first. */
export function requestRows(records: readonly UsageRecord[], primaryCloud: string) {
  return records.map((r) => ({
    requestId: r.requestId,
    startedAt: new Date(r.startedAtMs).toISOString(),
    tenant: r.tenantId,
    model: r.model,
    modelVersion: r.modelVersion,
    cloud: r.cloud,
    region: r.region,
    deployment: r.deployment,
    stream: r.stream,
    status: r.status,
    errorCode: r.errorCode,
    attempts: r.attempts,
    tokensInput: r.tokensInputUncached + r.tokensInputCached,
    tokensCached: r.tokensInputCached,
    tokensOutput: r.tokensOutput + r.tokensReasoning,
    latencyMs: Math.round(r.latencyMs * 10) / 10,
    overheadMs: Math.round(r.overheadUs / 10) / 100,
    why: whyRouted(r, primaryCloud),
    capacity: r.capacity ?? null,
    tier: r.tier ?? null,
    // Every attempt; a request served on its first attempt had exactly that one.
    attemptLog:
      r.attemptLog ??
      (r.deployment && r.upstreamId
        ? [
            {
              deployment: `${r.upstreamId}/${r.deployment}`,
              outcome: r.errorCode === 'client_closed' ? 'client_gone' : 'served',
              status: r.status,
              code: r.errorCode,
              durationMs: Math.round(r.latencyMs * 10) / 10,
            },
          ]
        : []),
  }));
}

function whyRouted(r: UsageRecord, primaryCloud: string): string {
  if (!r.cloud) return r.errorCode ? `not served: ${r.errorCode}` : 'not served';
  const primary = r.cloud === primaryCloud;
  if (r.attempts <= 1)
    return primary
      ? `served by the primary cloud (${primaryCloud}) on the first attempt`
      : `served by ${r.cloud}: no eligible, healthy ${primaryCloud} deployment was tried first`;
  return `failed over: served by ${r.cloud} on attempt ${r.attempts} after ${r.attempts - 1} failed attempt(s)`;
}

/** Each model version × cloud: its stage in the rollout log and the first-deployment verdict. */
export function rolloutMatrix(
  catalog: Catalog,
  log: readonly RolloutEvent[],
  term: CloudTerm | null,
  nowMs: number,
) {
  const latest = stagesNow(log);
  const rows: {
    model: string;
    modelVersion: string;
    cloud: string;
    deployment: string;
    stage: string | null;
    mayServe: boolean | null;
    verdict: string;
  }[] = [];
  const seen = new Set<string>();
  for (const m of catalog.values()) {
    for (const d of m.deployments) {
      const k = `${m.name}@${d.modelVersion}|${d.cloud}|${d.key}`;
      if (seen.has(k)) continue;
      seen.add(k);
      const stage = latest.get(`${m.name}@${d.modelVersion}|${d.cloud}`)?.stage ?? null;
      const gate = term ? gateFor(log, m.name, d.modelVersion, d.cloud, term, nowMs) : null;
      rows.push({
        model: m.name,
        modelVersion: d.modelVersion,
        cloud: d.cloud,
        deployment: d.key,
        stage,
        mayServe: gate ? gate.open : null,
        verdict: gate ? (gate.open ? gate.reason : `${gate.code}: ${gate.reason}`) : 'no agreement in force',
      });
    }
  }
  const waivers = log.filter((e) => e.kind === 'waiver');
  return { rows, waivers };
}

/** Cumulative accrual of one revenue-share term over time, from its ledger postings. */
export function accrualHistory(
  rows: readonly { code: string; account: string; effectiveAtMs: number; amountMicros: bigint }[],
  payee: string,
  termId: string,
  maxPoints = 500,
): { t: number; accruedMicros: bigint }[] {
  const mine = rows
    .filter((x) => x.code === 'accrual' && x.account.startsWith(`revshare-payable:${payee}:${termId}`))
    .sort((a, b) => a.effectiveAtMs - b.effectiveAtMs);
  const out: { t: number; accruedMicros: bigint }[] = [];
  let sum = 0n;
  for (const r of mine) {
    sum -= r.amountMicros; // the payable is a credit balance
    const last = out[out.length - 1];
    if (last && last.t === r.effectiveAtMs) last.accruedMicros = sum;
    else out.push({ t: r.effectiveAtMs, accruedMicros: sum });
  }
  if (out.length <= maxPoints) return out;
  const step = out.length / maxPoints;
  const sampled = Array.from({ length: maxPoints }, (_, i) => out[Math.floor(i * step)]!);
  sampled[sampled.length - 1] = out[out.length - 1]!;
  return sampled;
}
