// The store interface: one contract that the embedded SQLite store and the PostgreSQL store both
// keep, proven by one conformance suite (test/store-conformance.test.ts).
import type { TokenUsage } from '../canonical/index.js';

/** One request's usage: written once per request, success or failure, streaming or not. */
export interface UsageRecord extends TokenUsage {
  /** The request id; the idempotency key of the record. */
  readonly requestId: string;
  readonly tenantId: string;
  readonly keyId: string;
  /** The public model name the client asked for. */
  readonly model: string;
  /** The deployment's model version; null when no deployment was reached. */
  readonly modelVersion: string | null;
  readonly cloud: string | null;
  readonly region: string | null;
  readonly upstreamId: string | null;
  readonly deployment: string | null;
  readonly stream: boolean;
  /** The HTTP status the client received (200 for a stream that later broke). */
  readonly status: number;
  /** The error code when the request failed, including a stream broken after its first byte. */
  readonly errorCode: string | null;
  /** True when the token counts are the upstream's final figures. */
  readonly usageExact: boolean;
  readonly attempts: number;
  readonly startedAtMs: number;
  readonly latencyMs: number;
  /** Time spent in the gateway itself, excluding waits on upstreams, in microseconds. */
  readonly overheadUs: number;
}

export interface ApiKeyRecord {
  readonly id: string;
  readonly tenantId: string;
  /** Hex SHA-256 of the key. The key itself is never stored. */
  readonly sha256: string;
  /** Public model names, or ['*']. */
  readonly models: readonly string[];
  readonly createdAtMs: number;
  readonly revokedAtMs: number | null;
}

export interface UsageQuery {
  readonly limit?: number;
  readonly tenantId?: string;
  readonly requestId?: string;
}

/** One rollout event as stored; `payload` is the event without its sequence number. */
export interface StoredRolloutEvent {
  readonly seq: number;
  readonly payload: unknown;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  migrate(): Promise<void>;
  /** Appends records; a record whose requestId is already stored is ignored (idempotent). */
  appendUsage(records: readonly UsageRecord[]): Promise<void>;
  /** Newest first. */
  listUsage(query?: UsageQuery): Promise<UsageRecord[]>;
  countUsage(): Promise<number>;
  /** Inserts or replaces a key by id. */
  putApiKey(key: ApiKeyRecord): Promise<void>;
  revokeApiKey(id: string, atMs: number): Promise<boolean>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  /**
   * Appends to the rollout log in one transaction with `check`, which sees the whole log first
   * and may refuse (returning a reason) — so concurrent promotions are judged in log order.
   * Returns the new sequence number, or the refusal.
   */
  appendRolloutEvent<R>(
    payload: unknown,
    check: (log: readonly StoredRolloutEvent[]) => R | null,
  ): Promise<{ seq: number } | { refused: R }>;
  listRolloutEvents(): Promise<StoredRolloutEvent[]>;
  close(): Promise<void>;
}
