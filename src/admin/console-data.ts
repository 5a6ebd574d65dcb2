// The read models behind the web console, computed from the usage log, the route table and the
// rollout log. Pure functions over records; the admin API serves them as JSON.
import type { CloudTerm } from '../agreements/index.js';
import { gateFor, type RolloutEvent, stagesNow } from '../rollout/index.js';
import type { Catalog } from '../routing/index.js';
import type { UsageRecord } from '../store/index.js';

export interface TrafficBucket {
  readonly t: number;
  requests: number;
  errors: number;
  failovers: number;
  tokensInput: number;
  tokensOutput: number;
  readonly byCloud: Record<string, number>;
}

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return Math.round(sorted[Math.max(0, i)]! * 1000) / 1000;
}

/** Requests, tokens and errors per time bucket, per cloud and per model, with latency percentiles. */
export function traffic(
  records: readonly UsageRecord[],
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
  const latencies: number[] = [];
  const overheads: number[] = [];
  let requests = 0;
  let errors = 0;
  let failovers = 0;
  let primary = 0;
  let served = 0;
  for (const r of records) {
    if (r.startedAtMs < fromMs || r.startedAtMs >= toMs) continue;
    const b = buckets[Math.floor((r.startedAtMs - fromMs) / bucketMs)]!;
    const err = r.status >= 400 || r.errorCode !== null;
    const tokensIn = r.tokensInputUncached + r.tokensInputCached;
    const tokensOut = r.tokensOutput + r.tokensReasoning;
    const cloud = r.cloud ?? '(none)';
    b.requests++;
    b.tokensInput += tokensIn;
    b.tokensOutput += tokensOut;
    b.byCloud[cloud] = (b.byCloud[cloud] ?? 0) + 1;
    if (err) b.errors++;
    if (r.attempts > 1) b.failovers++;
    requests++;
    if (err) errors++;
    if (r.attempts > 1) failovers++;
    if (r.cloud && governed(r.model)) {
      served++;
      if (r.cloud === primaryCloud) primary++;
    }
    byCloud[cloud] ??= { requests: 0, errors: 0, tokens: 0 };
    const c = byCloud[cloud];
    c.requests++;
    c.tokens += tokensIn + tokensOut;
    if (err) c.errors++;
    const modelKey = r.model || '(none)';
    byModel[modelKey] ??= { requests: 0, errors: 0, tokens: 0 };
    const m = byModel[modelKey];
    m.requests++;
    m.tokens += tokensIn + tokensOut;
    if (err) m.errors++;
    latencies.push(r.latencyMs);
    overheads.push(r.overheadUs / 1000);
  }
  latencies.sort((a, b) => a - b);
  overheads.sort((a, b) => a - b);
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
      latencyMs: {
        p50: percentile(latencies, 50),
        p95: percentile(latencies, 95),
        p99: percentile(latencies, 99),
      },
      overheadMs: { p50: percentile(overheads, 50), p99: percentile(overheads, 99) },
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
