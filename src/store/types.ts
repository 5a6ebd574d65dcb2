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
  /** The API surface the request came in on (revenue bases and product grants name them). */
  readonly surface: 'chat' | 'responses' | 'embeddings';
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
  /** The capacity that served: a pool's id, or `pay-as-you-go`; absent when no pools are configured. */
  readonly capacity?: string;
  /** The capacity tier the cloud said served (`scale`, `reserved`, `ON_DEMAND`, `spillover`…). */
  readonly tier?: string;
  /**
   * Every attempt, in order, when there was more than one or the one attempt did not serve (a
   * record without it was served by its deployment on the first attempt).
   */
  readonly attemptLog?: readonly AttemptRecord[];
}

/** One attempt of a request on one deployment. */
export interface AttemptRecord {
  /** `<upstream id>/<deployment>`. */
  readonly deployment: string;
  /** `served`, `client_gone`, or the failure kind: rate_limited, server, auth, not_found, client, bad_response, timeout, connect. */
  readonly outcome: string;
  /** The upstream's HTTP status (the client's, for a served attempt); null when none came. */
  readonly status: number | null;
  /** The upstream's own error code, or the OS's for a connection that failed (ECONNREFUSED…). */
  readonly code: string | null;
  readonly durationMs: number;
  /** The upstream's host, when the connection could not be made or timed out. */
  readonly host?: string;
  /**
   * What a failed attempt had used when it broke, where its cloud had begun work it bills (a
   * stream cut before the client's first byte, after the cloud reported the prompt or streamed
   * reasoning): reported by the cloud (`exact`), or counted as an abandoned stream is. Kept for
   * the operator, not billed to the tenant, who is billed for the attempt that served.
   */
  readonly usage?: AttemptUsage;
}

export interface AttemptUsage extends TokenUsage {
  /** The cloud reported these counts (else they are the gateway's count and estimate). */
  readonly exact: boolean;
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
  /** The key stops working at this instant (a rotation's grace period ends, or an expiry). */
  readonly expiresAtMs?: number | null;
  /** Free-form labels (owner, purpose); never secrets. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** The key's own limits (the config's keyLimits shape), set live through the admin API. */
  readonly limits?: unknown;
}

/** The keys changed since a version a node holds, as they are now. */
export interface ApiKeyChanges {
  /** The version these changes bring the node to. */
  readonly version: number;
  /** Every key added or changed since, as it is now. */
  readonly keys: readonly ApiKeyRecord[];
  /** The ids of keys removed from the store since. */
  readonly removed: readonly string[];
}

/** A page of keys in id order. */
export interface KeyPage {
  /** Only keys whose id sorts after this one (the last id of the page before). */
  readonly after?: string;
  readonly limit?: number;
}

export interface UsageQuery {
  readonly limit?: number;
  readonly tenantId?: string;
  readonly requestId?: string;
  /** Only records of requests started at or after this instant. */
  readonly sinceMs?: number;
}

/** One rollout event as stored; `payload` is the event without its sequence number. */
export interface StoredRolloutEvent {
  readonly seq: number;
  readonly payload: unknown;
}

/** Ledger types the store persists; the posting logic itself lives in src/ledger. */
export interface StoredEntry {
  readonly account: string;
  readonly amountMicros: bigint;
}
export interface StoredTx {
  readonly txId: string;
  readonly code: string;
  /**
   * What a retry must repeat exactly: a revenue transaction's payload (revenuePayload, or in its
   * record's row only the row's part, rowPayload; a SHA-256 hex digest of the whole in revenue
   * posted by earlier builds), a SHA-256 hex digest for others.
   */
  readonly payloadHash: string;
  readonly effectiveAtMs: number;
  readonly period: string;
  readonly causeId: string | null;
  readonly currency: string;
  /** The capacity that served (a pool's id, or pay-as-you-go), or that a capacity charge is for. */
  readonly capacity?: string | null;
  readonly entries: readonly StoredEntry[];
}
export interface StoredAccrual {
  readonly revenueMicros: bigint;
  readonly accruedMicros: bigint;
  /** Revenue below one micro-unit not yet counted in revenueMicros, in pico-units (0 ≤ r < 10⁶). */
  readonly remainderPico: bigint;
}
export interface LedgerRow {
  readonly txId: string;
  readonly code: string;
  readonly effectiveAtMs: number;
  readonly recordedAtMs: number;
  readonly period: string;
  readonly causeId: string | null;
  readonly currency: string;
  /** The capacity the transaction names (StoredTx.capacity); null when none. */
  readonly capacity: string | null;
  readonly account: string;
  readonly amountMicros: bigint;
}

/** What a posting plan sees: prior revenue payloads (whole), locked accrual states, closed periods. */
export interface PostingView {
  readonly existing: ReadonlyMap<string, string>;
  /**
   * Every record of insertUsage is new (the store undoes the unit of work otherwise): each will be
   * inserted here, as it is, so a revenue it keeps in its row may leave the row's fields out.
   */
  readonly presumedNew?: boolean;
  readonly states: ReadonlyMap<string, StoredAccrual>;
  readonly closed: ReadonlySet<string>;
  /** For each requested transaction id X: Σ of its and its refunds' (cause_id = X) receivable entries. */
  readonly receivableTotals: ReadonlyMap<string, bigint>;
}
export interface PostingPlan {
  readonly txs: readonly StoredTx[];
  readonly states: ReadonlyMap<string, StoredAccrual>;
  /**
   * Pending usage records to mark: request id → ledger status (1 posted, 2 unpriced, 3 conflict).
   * With `records`, only those not among insertUsage.
   */
  readonly usageStatus: ReadonlyMap<string, number>;
  /** Optional: the plan by record of insertUsage, for a store that reads it by index, not by id. */
  readonly records?: RecordsPlan;
}

/** A posting plan's view by record, in insertUsage's order (one entry per record). */
export interface RecordsPlan {
  /**
   * Each record's own revenue transaction (also in txs), or undefined when none is posted for it
   * (unpriced, a duplicate or conflict, or a repeat of a record earlier in the batch).
   */
  readonly revenue: readonly (StoredTx | undefined)[];
  /** Each record's ledger status (1 posted, 2 unpriced, 3 conflict). */
  readonly status: ArrayLike<number>;
  /** The plan's other transactions (accruals: none is a record's own revenue), in txs order. */
  readonly others: readonly StoredTx[];
}

export const USAGE_PENDING = 0;
export const USAGE_POSTED = 1;
export const USAGE_UNPRICED = 2;
export const USAGE_CONFLICT = 3;

/** One change to what governs traffic or money: who, when (server time), what. Never updated. */
export interface AuditEntry {
  readonly seq: number;
  readonly atMs: number;
  /** `admin:<key id>`, `cli:<os user>`, `file:<path>`, or `gateway` for what a node records itself. */
  readonly actor: string;
  /** e.g. rollout.event, rollout.import, declaration.agi, refund, period.close, agreement.changed */
  readonly action: string;
  /** What it acted on: a model version, a request id, a period, a file. */
  readonly subject: string;
  /** The change itself (the event, the diff), as JSON. */
  readonly detail: unknown;
}
export type NewAuditEntry = Omit<AuditEntry, 'seq'>;

/** One row of a traffic series: a bucket × cloud × model, counts summed. */
export interface TrafficRow {
  /** The bucket's start. */
  readonly t: number;
  readonly cloud: string;
  readonly model: string;
  readonly requests: number;
  readonly errors: number;
  readonly failovers: number;
  readonly tokensInput: number;
  readonly tokensOutput: number;
  readonly latency: readonly number[];
  readonly overhead: readonly number[];
}

export interface SpendRow {
  readonly tenantId: string;
  readonly keyId: string;
  readonly model: string;
  readonly cloud: string | null;
  readonly currency: string;
  readonly micros: bigint;
  readonly requests: number;
}

export type SpendDimension = 'tenant' | 'key' | 'model' | 'cloud';

/** One group of a spend summary: a tenant, key, model or cloud ('(none)' for no cloud). */
export interface SpendGroup {
  readonly name: string;
  readonly micros: bigint;
  readonly requests: number;
}

/** What a spend summary lists: the `top` groups of each dimension; of some keys only, with `keyIds`. */
export interface SpendSummaryQuery {
  readonly top: number;
  readonly keyIds?: readonly string[];
}

/** The spend of a range: its total, and per dimension its largest groups and how many there are. */
export interface SpendSummary {
  readonly micros: bigint;
  readonly requests: number;
  readonly by: Readonly<
    Record<SpendDimension, { readonly top: readonly SpendGroup[]; readonly groups: number }>
  >;
}

/** A gateway node as the registry knows it (each node writes its own row every heartbeat). */
export interface NodeRecord {
  readonly nodeId: string;
  readonly version: string;
  readonly configHash: string;
  readonly url: string;
  readonly startedAtMs: number;
  readonly heartbeatAtMs: number;
  readonly inFlight: number;
  /** `serving`, `draining` or `stopped`. */
  readonly state: string;
}

/** Where a store lives: enough for another thread or process to open its own connection. */
export type StoreLocation =
  | { readonly kind: 'sqlite'; readonly path: string }
  | { readonly kind: 'postgres'; readonly url: string; readonly schema?: string };

export interface PostLedgerOptions {
  readonly whileWriting?: () => void;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /**
   * postLedger presumes the records of insertUsage new (PostingView.presumedNew) when it can, and
   * undoes the unit of work when one is not: a plan may then keep a revenue's row payload.
   */
  readonly presumesNew?: boolean;
  readonly location: StoreLocation;
  /**
   * Brings the schema to the newest version, or to `toVersion` (the upgrade tests stop one short,
   * write data as an older Entente did, then migrate the rest). Each run is one transaction.
   */
  migrate(opts?: { readonly toVersion?: number }): Promise<void>;
  /** Appends records; a record whose requestId is already stored is ignored (idempotent). */
  appendUsage(records: readonly UsageRecord[]): Promise<void>;
  /** Newest first. */
  listUsage(query?: UsageQuery): Promise<UsageRecord[]>;
  countUsage(): Promise<number>;
  /** Inserts or replaces a key by id. */
  putApiKey(key: ApiKeyRecord): Promise<void>;
  /** Inserts a new key; false, and nothing written, when a key with its id exists. */
  insertApiKey(key: ApiKeyRecord): Promise<boolean>;
  /** One key by id (a primary-key read), or null. */
  getApiKey(id: string): Promise<ApiKeyRecord | null>;
  revokeApiKey(id: string, atMs: number): Promise<boolean>;
  /** Keys in id order: every key, or one page of them. */
  listApiKeys(page?: KeyPage): Promise<ApiKeyRecord[]>;
  /** The ids that start with `prefix` (a rotation's next free id), without reading the keys. */
  listApiKeyIds(prefix: string): Promise<string[]>;
  /**
   * A number that changes whenever any API key is added, changed or removed (and only then,
   * whoever changed it): reading it costs one row, where listApiKeys reads every key.
   */
  apiKeysVersion(): Promise<number>;
  /**
   * What changed since `version` (one a node read from apiKeysVersion or an earlier call): the
   * keys changed, read by id, and the new version. null when the store's change log no longer
   * reaches back that far (it keeps the last API_KEY_CHANGES_KEPT versions) or names a change
   * it cannot list by key: then the node reads every key.
   */
  apiKeyChangesSince(version: number): Promise<ApiKeyChanges | null>;
  /**
   * Appends to the rollout log in one transaction with `check`, which sees the whole log first
   * and may refuse (returning a reason) — so concurrent promotions are judged in log order.
   * Returns the new sequence number, or the refusal.
   */
  appendRolloutEvent<R>(
    payload: unknown,
    check: (log: readonly StoredRolloutEvent[]) => R | null,
  ): Promise<{ seq: number } | { refused: R }>;
  /**
   * The rollout log in sequence order; with `afterSeq`, only the events after it (a node that
   * holds the log up to there reads what was appended since, not the whole log again). Appends
   * are serialized, so sequence order is commit order: nothing appears later below a seq read.
   */
  listRolloutEvents(afterSeq?: number): Promise<StoredRolloutEvent[]>;
  /** The sequence number of the rollout log's last event (0 when empty): one index read. */
  lastRolloutSeq(): Promise<number>;
  /**
   * One ledger unit of work, atomically: lock the accrual states of `termIds`, read the prior
   * hashes of `txIds` and the closed periods, call `plan`, then write its transactions, states and
   * usage marks. Under concurrency across processes, plans for the same terms run one at a time.
   * `insertUsage`: records not yet stored, inserted in the same unit of work with the ledger
   * status the plan gives them (no second pass to mark them); one already stored is only marked.
   * `whileWriting`: called once, when the unit's largest write has gone to the database and the
   * caller's thread would otherwise wait for it (a pipeline prepares its next batch there); a store
   * that writes on the caller's thread calls it once the unit is done.
   */
  postLedger(
    txIds: readonly string[],
    termIds: readonly string[],
    plan: (view: PostingView) => PostingPlan,
    totalsFor?: readonly string[],
    insertUsage?: readonly UsageRecord[],
    opts?: PostLedgerOptions,
  ): Promise<void>;
  /**
   * Optional: prepares `records` for a later postLedger with exactly this array as insertUsage
   * (a store that encodes rows for a server does it here, so a pipeline can overlap it).
   */
  encodeUsage?(records: readonly UsageRecord[]): void;
  /**
   * Optional: makes every unit of work committed so far survive an OS crash or power loss, for a
   * store whose commits do not on their own (SQLite here: see SqliteStore). The spool's writer
   * calls it before it deletes a spool file whose records the store holds: once the file is gone,
   * the store's copy is the only one.
   */
  syncCommitted?(): void;
  /** Usage records not yet posted to the ledger, oldest first. */
  pendingUsage(limit: number): Promise<UsageRecord[]>;
  /** Resets every usage record to pending and empties the ledger (for `usage replay`). */
  resetLedger(): Promise<void>;
  ledgerRows(query?: { account?: string; period?: string; beforePeriod?: string }): Promise<LedgerRow[]>;
  accrualStates(): Promise<Map<string, StoredAccrual>>;
  closedPeriods(): Promise<Set<string>>;
  /** Closes a period; false if it was closed already. */
  closePeriod(period: string, atMs: number): Promise<boolean>;
  /**
   * Booked spend (the receivable of each request's revenue transaction) of requests started in
   * [sinceMs, untilMs), by tenant, key and model: what budgets are reconciled against. With
   * `keyIds`, only those keys' (a page of the console's keys).
   */
  spendByScope(sinceMs: number, untilMs: number, keyIds?: readonly string[]): Promise<SpendRow[]>;
  /**
   * The booked spend of requests started in [sinceMs, untilMs): the total, and by tenant, key,
   * model and cloud the `top` groups by spend (ties by name, in byte order) with the number of
   * groups; with `keyIds`, of those keys only. Its size does not grow with the number of keys.
   */
  spendSummary(sinceMs: number, untilMs: number, opts: SpendSummaryQuery): Promise<SpendSummary>;
  /**
   * The per-minute roll-ups (maintained on ingest) summed into buckets of `bucketMs` (a multiple
   * of a minute) from `fromMs` (minute-aligned) to `toMs`, by cloud and model.
   */
  trafficSeries(fromMs: number, toMs: number, bucketMs: number): Promise<TrafficRow[]>;
  /** Tokens (input + output) per minute served by these deployments (`<upstream>/<deployment>`), from the roll-ups. */
  deploymentTokens(
    deployments: readonly string[],
    fromMs: number,
    toMs: number,
  ): Promise<{ t: number; tokens: number }[]>;
  /** Writes this node's registry row (insert or replace). */
  heartbeatNode(node: NodeRecord): Promise<void>;
  listNodes(): Promise<NodeRecord[]>;
  /** Appends to the audit log (append-only: the store has no update or delete path for it). */
  appendAudit(entry: NewAuditEntry): Promise<number>;
  /** Newest first. */
  listAudit(query?: { limit?: number; action?: string; subject?: string }): Promise<AuditEntry[]>;
  /**
   * SQLite: copies what the write-ahead log holds into the database file, without waiting for
   * readers or writers (a passive checkpoint), and returns how many log frames are copied. A
   * gateway's serving connection never checkpoints by itself (a checkpoint writes and syncs the
   * database file: 14–16 ms for 1,000 pages, more on a busy disk); its spool writer calls this, on
   * its own thread. PostgreSQL: nothing to do, 0.
   */
  checkpoint(): Promise<number>;
  close(): Promise<void>;
}
