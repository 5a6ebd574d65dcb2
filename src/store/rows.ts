// Database rows ↔ records, validated with zod on the way in (a row is an edge too).
// Both stores share the column names, so they share this mapping.
import { z } from 'zod';
import type {
  ApiKeyRecord,
  AuditEntry,
  LedgerRow,
  NodeRecord,
  SpendGroup,
  SpendRow,
  SpendSummary,
  UsageRecord,
} from './types.js';

const int = z.coerce.number().int();

export const usageColumns = [
  'request_id',
  'tenant_id',
  'key_id',
  'model',
  'model_version',
  'cloud',
  'region',
  'upstream_id',
  'deployment',
  'surface',
  'stream',
  'status',
  'error_code',
  'usage_exact',
  'attempts',
  'tokens_input_uncached',
  'tokens_input_cached',
  'tokens_output',
  'tokens_reasoning',
  'started_at_ms',
  'latency_ms',
  'overhead_us',
  'capacity',
  'tier',
  'attempt_log',
] as const;

/** The PostgreSQL type of each of usageColumns, in order (for inserts from one array per column). */
export const usageColumnPgTypes: Readonly<Record<(typeof usageColumns)[number], string>> = {
  request_id: 'text',
  tenant_id: 'text',
  key_id: 'text',
  model: 'text',
  model_version: 'text',
  cloud: 'text',
  region: 'text',
  upstream_id: 'text',
  deployment: 'text',
  surface: 'text',
  stream: 'smallint',
  status: 'integer',
  error_code: 'text',
  usage_exact: 'smallint',
  attempts: 'integer',
  tokens_input_uncached: 'bigint',
  tokens_input_cached: 'bigint',
  tokens_output: 'bigint',
  tokens_reasoning: 'bigint',
  started_at_ms: 'bigint',
  latency_ms: 'bigint',
  overhead_us: 'bigint',
  capacity: 'text',
  tier: 'text',
  attempt_log: 'text',
};

const usageRow = z.object({
  request_id: z.string(),
  tenant_id: z.string(),
  key_id: z.string(),
  model: z.string(),
  model_version: z.string().nullable(),
  cloud: z.string().nullable(),
  region: z.string().nullable(),
  upstream_id: z.string().nullable(),
  deployment: z.string().nullable(),
  surface: z.enum(['chat', 'responses', 'embeddings']),
  stream: z.union([z.boolean(), int]),
  status: int,
  error_code: z.string().nullable(),
  usage_exact: z.union([z.boolean(), int]),
  attempts: int,
  tokens_input_uncached: int,
  tokens_input_cached: int,
  tokens_output: int,
  tokens_reasoning: int,
  started_at_ms: int,
  latency_ms: int,
  overhead_us: int,
  capacity: z.string().nullable().optional(),
  tier: z.string().nullable().optional(),
  attempt_log: z.string().nullable().optional(),
});

const attemptLogSchema = z.array(
  z.object({
    deployment: z.string(),
    outcome: z.string(),
    status: z.number().int().nullable(),
    code: z.string().nullable(),
    durationMs: z.number(),
    host: z.string().optional(),
    usage: z
      .object({
        tokensInputUncached: z.number().int().nonnegative(),
        tokensInputCached: z.number().int().nonnegative(),
        tokensOutput: z.number().int().nonnegative(),
        tokensReasoning: z.number().int().nonnegative(),
        exact: z.boolean(),
      })
      .optional(),
  }),
);

export function usageToRow(r: UsageRecord): unknown[] {
  return [
    r.requestId,
    r.tenantId,
    r.keyId,
    r.model,
    r.modelVersion,
    r.cloud,
    r.region,
    r.upstreamId,
    r.deployment,
    r.surface ?? 'chat',
    r.stream ? 1 : 0,
    r.status,
    r.errorCode,
    r.usageExact ? 1 : 0,
    r.attempts,
    r.tokensInputUncached,
    r.tokensInputCached,
    r.tokensOutput,
    r.tokensReasoning,
    r.startedAtMs,
    Math.round(r.latencyMs),
    Math.round(r.overheadUs),
    r.capacity ?? null,
    r.tier ?? null,
    r.attemptLog ? JSON.stringify(r.attemptLog) : null,
  ];
}

export function usageFromRow(row: unknown): UsageRecord {
  const r = usageRow.parse(row);
  return {
    requestId: r.request_id,
    tenantId: r.tenant_id,
    keyId: r.key_id,
    model: r.model,
    modelVersion: r.model_version,
    cloud: r.cloud,
    region: r.region,
    upstreamId: r.upstream_id,
    deployment: r.deployment,
    surface: r.surface,
    stream: Boolean(r.stream),
    status: r.status,
    errorCode: r.error_code,
    usageExact: Boolean(r.usage_exact),
    attempts: r.attempts,
    tokensInputUncached: r.tokens_input_uncached,
    tokensInputCached: r.tokens_input_cached,
    tokensOutput: r.tokens_output,
    tokensReasoning: r.tokens_reasoning,
    startedAtMs: r.started_at_ms,
    latencyMs: r.latency_ms,
    overheadUs: r.overhead_us,
    ...(r.capacity != null ? { capacity: r.capacity } : {}),
    ...(r.tier != null ? { tier: r.tier } : {}),
    ...(r.attempt_log != null ? { attemptLog: attemptLogSchema.parse(JSON.parse(r.attempt_log)) } : {}),
  };
}

const big = z.union([z.bigint(), z.string().regex(/^-?\d+$/), z.number().int()]).transform((v) => BigInt(v));
const ledgerRow = z.object({
  tx_id: z.string(),
  code: z.string(),
  effective_at_ms: big,
  recorded_at_ms: big,
  period: z.string().regex(/^\d{4}-\d{2}$/),
  cause_id: z.string().nullable(),
  currency: z.string(),
  capacity: z.string().nullable().optional(),
  account: z.string(),
  amount_micros: big,
});

export function ledgerRowFromDb(row: unknown): LedgerRow {
  const r = ledgerRow.parse(row);
  return {
    txId: r.tx_id,
    code: r.code,
    effectiveAtMs: Number(r.effective_at_ms),
    recordedAtMs: Number(r.recorded_at_ms),
    period: r.period,
    causeId: r.cause_id,
    currency: r.currency,
    capacity: r.capacity ?? null,
    account: r.account,
    amountMicros: r.amount_micros,
  };
}

const keyRow = z.object({
  id: z.string(),
  tenant_id: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  models: z.string(),
  created_at_ms: int,
  revoked_at_ms: int.nullable(),
  expires_at_ms: int.nullable().optional(),
  metadata: z.string().optional(),
  limits: z.string().nullable().optional(),
});

/** The columns of api_keys that a write sets, in this order. */
export const KEY_COLUMNS =
  'id, tenant_id, sha256, models, created_at_ms, revoked_at_ms, expires_at_ms, metadata, limits';

/** A key as the values of KEY_COLUMNS. */
export function keyToRow(key: ApiKeyRecord): unknown[] {
  return [
    key.id,
    key.tenantId,
    key.sha256,
    JSON.stringify(key.models),
    key.createdAtMs,
    key.revokedAtMs,
    key.expiresAtMs ?? null,
    JSON.stringify(key.metadata ?? {}),
    key.limits ? JSON.stringify(key.limits) : null,
  ];
}

// Built once: a schema built per row cost most of a key's decoding (10,000 keys took 170 ms).
const keyModels = z.array(z.string());
const keyMetadata = z.record(z.string(), z.string());

export function keyFromRow(row: unknown): ApiKeyRecord {
  const r = keyRow.parse(row);
  return {
    id: r.id,
    tenantId: r.tenant_id,
    sha256: r.sha256,
    models: keyModels.parse(JSON.parse(r.models)),
    createdAtMs: r.created_at_ms,
    revokedAtMs: r.revoked_at_ms,
    expiresAtMs: r.expires_at_ms ?? null,
    metadata: keyMetadata.parse(JSON.parse(r.metadata ?? '{}')),
    // Checked where limits are compiled (a bad stored value is reported there, not fatal here).
    ...(r.limits ? { limits: JSON.parse(r.limits) as unknown } : {}),
  };
}

const auditRow = z.object({
  seq: int,
  at_ms: int,
  actor: z.string(),
  action: z.string(),
  subject: z.string(),
  detail: z.string(),
});

export function auditFromRow(row: unknown): AuditEntry {
  const r = auditRow.parse(row);
  return {
    seq: r.seq,
    atMs: r.at_ms,
    actor: r.actor,
    action: r.action,
    subject: r.subject,
    detail: JSON.parse(r.detail),
  };
}

const nodeRow = z.object({
  node_id: z.string(),
  version: z.string(),
  config_hash: z.string(),
  url: z.string(),
  started_at_ms: int,
  heartbeat_at_ms: int,
  in_flight: int,
  state: z.string(),
});

export function nodeFromRow(row: unknown): NodeRecord {
  const r = nodeRow.parse(row);
  return {
    nodeId: r.node_id,
    version: r.version,
    configHash: r.config_hash,
    url: r.url,
    startedAtMs: r.started_at_ms,
    heartbeatAtMs: r.heartbeat_at_ms,
    inFlight: r.in_flight,
    state: r.state,
  };
}

const spendRow = z.object({
  tenant_id: z.string(),
  key_id: z.string(),
  model: z.string(),
  cloud: z.string().nullable(),
  currency: z.string(),
  micros: z.string().regex(/^-?\d+$/),
  requests: z.coerce.number().int(),
});

const spendSummaryRow = z.object({
  dim: z.enum(['total', 'tenant', 'key', 'model', 'cloud']),
  name: z.string().nullable(),
  micros: z.string().regex(/^-?\d+$/),
  requests: z.coerce.number().int(),
  groups: z.coerce.number().int(),
});

/** The rows of spendSummarySql as a summary, each dimension's groups by spend, then name. */
export function spendSummaryFromRows(rows: readonly unknown[]): SpendSummary {
  const by = {
    tenant: { top: [] as SpendGroup[], groups: 0 },
    key: { top: [] as SpendGroup[], groups: 0 },
    model: { top: [] as SpendGroup[], groups: 0 },
    cloud: { top: [] as SpendGroup[], groups: 0 },
  };
  let total = { micros: 0n, requests: 0 };
  for (const row of rows) {
    const r = spendSummaryRow.parse(row);
    const micros = BigInt(r.micros);
    if (r.dim === 'total') {
      total = { micros, requests: r.requests };
      continue;
    }
    // A usage record with no cloud (no deployment reached) rolls up under ''.
    by[r.dim].top.push({ name: r.name || '(none)', micros, requests: r.requests });
    by[r.dim].groups = r.groups;
  }
  const order = (a: SpendGroup, b: SpendGroup) =>
    a.micros === b.micros ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : a.micros > b.micros ? -1 : 1;
  for (const d of Object.values(by)) d.top.sort(order);
  return { ...total, by };
}

export function spendFromRow(row: unknown): SpendRow {
  const r = spendRow.parse(row);
  return {
    tenantId: r.tenant_id,
    keyId: r.key_id,
    model: r.model,
    cloud: r.cloud,
    currency: r.currency,
    micros: BigInt(r.micros),
    requests: r.requests,
  };
}
