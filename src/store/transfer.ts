// How a ledger transaction is stored: as one row holding both of its legs (a transfer: debit one
// account, credit another, by one positive amount), as TigerBeetle stores its transfers. Every
// transaction Entente posts has two legs or none (a revenue booked at zero), so a transaction
// balances by construction and costs one row, not three (docs/ledger.md, "Storage").
// A request's revenue transaction, the ledger's one write per request, is kept in its usage
// record's row (the `revenue_*` columns) when the record is stored: the same transfer, written
// with the record instead of beside it. The stores read both as one set of transactions, and
// `ledger_entries` is a view that unfolds every transaction into its legs.
import { EntenteError } from '../errors/index.js';
import type { PostingPlan, RecordsPlan, StoredTx, UsageRecord } from './types.js';

export interface Transfer {
  /** The account debited (+amount), or null for a transaction with no legs. */
  readonly debit: string | null;
  /** The account credited (−amount), or null for a transaction with no legs. */
  readonly credit: string | null;
  /** Positive, or 0 for a transaction with no legs. */
  readonly amountMicros: bigint;
}

const NONE: Transfer = { debit: null, credit: null, amountMicros: 0n };

/**
 * The transfer of a transaction: two legs of opposite, non-zero amounts on two accounts, or none.
 * Any other shape is refused before anything is written: the store could not hold it, and no
 * posting path produces it.
 */
export function transferOf(tx: StoredTx): Transfer {
  const legs = tx.entries;
  if (legs.length === 0) return NONE;
  const [a, b] = legs;
  if (legs.length === 2 && a && b && a.amountMicros !== 0n && a.amountMicros === -b.amountMicros) {
    if (a.account === b.account)
      throw new EntenteError(
        'ledger_invariant_violated',
        `transaction ${tx.txId} debits and credits the same account ${a.account}`,
      );
    return a.amountMicros > 0n
      ? { debit: a.account, credit: b.account, amountMicros: a.amountMicros }
      : { debit: b.account, credit: a.account, amountMicros: b.amountMicros };
  }
  throw new EntenteError(
    'ledger_invariant_violated',
    `transaction ${tx.txId} is not one transfer: ${legs.length} entries (${legs.map((e) => `${e.account} ${e.amountMicros}`).join(', ')}); each transaction moves one positive amount from one account to another`,
  );
}

/** The shape every stored row keeps (both stores): legs and amount together, or neither. */
export const TRANSFER_CHECK = `CHECK ((amount_micros = 0 AND debit_account IS NULL AND credit_account IS NULL)
  OR (amount_micros > 0 AND debit_account IS NOT NULL AND credit_account IS NOT NULL AND debit_account <> credit_account))`;

/** A revenue transaction kept in its usage record's row: these columns, all set or all null. */
export const REVENUE_COLUMNS = [
  'revenue_hash',
  'revenue_effective_at_ms',
  'revenue_period',
  'revenue_currency',
  'revenue_recorded_at_ms',
  'revenue_capacity',
  'revenue_debit',
  'revenue_credit',
  'revenue_micros',
] as const;

/** A usage record keeps no revenue transaction, or a whole one that is one transfer. */
export const REVENUE_SHAPE = `((revenue_hash IS NULL AND revenue_effective_at_ms IS NULL AND revenue_period IS NULL
    AND revenue_currency IS NULL AND revenue_recorded_at_ms IS NULL AND revenue_capacity IS NULL
    AND revenue_debit IS NULL AND revenue_credit IS NULL AND revenue_micros IS NULL)
  OR (revenue_hash IS NOT NULL AND revenue_effective_at_ms IS NOT NULL AND revenue_period IS NOT NULL
    AND revenue_currency IS NOT NULL AND revenue_recorded_at_ms IS NOT NULL
    AND ((revenue_micros = 0 AND revenue_debit IS NULL AND revenue_credit IS NULL)
      OR (revenue_micros > 0 AND revenue_debit IS NOT NULL AND revenue_credit IS NOT NULL AND revenue_debit <> revenue_credit))))`;

/** The PostgreSQL type of each of REVENUE_COLUMNS (as rows.ts has usageColumnPgTypes). */
export const REVENUE_COLUMN_PG_TYPES: Readonly<Record<(typeof REVENUE_COLUMNS)[number], string>> = {
  revenue_hash: 'text',
  revenue_effective_at_ms: 'bigint',
  revenue_period: 'text',
  revenue_currency: 'text',
  revenue_recorded_at_ms: 'bigint',
  revenue_capacity: 'text',
  revenue_debit: 'text',
  revenue_credit: 'text',
  revenue_micros: 'bigint',
};

/**
 * The request whose record can keep this transaction: a request's own revenue transaction
 * (`revenue:<id>`, caused by that request), or null for any other.
 */
export function keeperOf(tx: Pick<StoredTx, 'code' | 'txId' | 'causeId'>): string | null {
  const c = tx.causeId;
  // Compared in place: building `revenue:${c}` for each transaction only to compare it cost an
  // allocation per posted request.
  return tx.code === 'revenue' &&
    c !== null &&
    tx.txId.length === c.length + 8 &&
    tx.txId.startsWith('revenue:') &&
    tx.txId.endsWith(c)
    ? c
    : null;
}

/** The columns of a transaction row in `ledger_transactions`, in order, with their PostgreSQL types. */
export const TRANSFER_COLUMNS = [
  ['tx_id', 'text'],
  ['code', 'text'],
  ['payload_hash', 'text'],
  ['effective_at_ms', 'bigint'],
  ['period', 'text'],
  ['cause_id', 'text'],
  ['currency', 'text'],
  ['recorded_at_ms', 'bigint'],
  ['capacity', 'text'],
  ['debit_account', 'text'],
  ['credit_account', 'text'],
  ['amount_micros', 'bigint'],
] as const;

/** A transaction as the values of TRANSFER_COLUMNS, in order. */
export function transferRowOf(tx: StoredTx, recordedAtMs: number): unknown[] {
  const t = transferOf(tx);
  return [
    tx.txId,
    tx.code,
    tx.payloadHash,
    tx.effectiveAtMs,
    tx.period,
    tx.causeId,
    tx.currency,
    recordedAtMs,
    tx.capacity ?? null,
    t.debit,
    t.credit,
    t.amountMicros,
  ];
}

/**
 * A revenue transaction about to be written where its record already keeps one: exactly once
 * would break. The unit of work is refused (and a writer's retry then finds it a duplicate).
 */
export function revenueKeptTwice(requestId: string): EntenteError {
  return new EntenteError(
    'ledger_invariant_violated',
    `revenue:${requestId} is kept in its usage record already; it is not written twice`,
  );
}

const NO_REVENUE: readonly unknown[] = REVENUE_COLUMNS.map(() => null);

/** A revenue transaction as the values of REVENUE_COLUMNS (in order), or all null for none. */
export function revenueColumnsOf(tx: StoredTx | undefined, recordedAtMs: number): readonly unknown[] {
  if (!tx) return NO_REVENUE;
  const t = transferOf(tx);
  return [
    tx.payloadHash,
    tx.effectiveAtMs,
    tx.period,
    tx.currency,
    recordedAtMs,
    tx.capacity ?? null,
    t.debit,
    t.credit,
    t.amountMicros,
  ];
}

/** The revenue transactions kept in usage records, as rows of the transactions' own columns. */
export const EMBEDDED_REVENUE = `(SELECT 'revenue:' || request_id AS tx_id, 'revenue' AS code, revenue_hash AS payload_hash,
    revenue_effective_at_ms AS effective_at_ms, revenue_period AS period, request_id AS cause_id,
    revenue_currency AS currency, revenue_recorded_at_ms AS recorded_at_ms, revenue_capacity AS capacity,
    revenue_debit AS debit_account, revenue_credit AS credit_account, revenue_micros AS amount_micros
  FROM usage_records WHERE revenue_hash IS NOT NULL)`;

/** Both places a transaction is kept. */
const SOURCES = ['ledger_transactions', `${EMBEDDED_REVENUE} embedded`];

/** A view of the legs of every transaction in `sources`, debit first. */
function entriesView(sources: readonly string[]): string {
  return `CREATE VIEW ledger_entries (tx_id, idx, account, amount_micros, period) AS
  ${sources
    .map(
      (src) => `SELECT tx_id, 0, debit_account, amount_micros, period FROM ${src} WHERE amount_micros > 0
  UNION ALL
  SELECT tx_id, 1, credit_account, -amount_micros, period FROM ${src} WHERE amount_micros > 0`,
    )
    .join('\n  UNION ALL\n  ')}`;
}

/** The legs of every transaction, as the entries table they replace had them (debit first). */
export const ENTRIES_VIEW = entriesView(SOURCES);

/** The view as the migration that made transactions transfers created it (a migration never changes). */
export const TRANSFERS_ENTRIES_VIEW = entriesView(['ledger_transactions']);

/**
 * Indexes for an account's legs in a period (statements), and for a transaction's refunds. Only
 * rows with legs are indexed, and only refunds by their cause.
 */
export const TRANSFER_INDEXES = `CREATE INDEX ledger_debits ON ledger_transactions (debit_account, period) WHERE amount_micros > 0;
   CREATE INDEX ledger_credits ON ledger_transactions (credit_account, period) WHERE amount_micros > 0;
   CREATE INDEX ledger_refunds ON ledger_transactions (cause_id) WHERE code = 'refund'`;

export interface LedgerFilters {
  readonly account?: string;
  readonly period?: string;
  readonly beforePeriod?: string;
}

/**
 * Every leg as a ledger row, filtered, in posting order (the debit leg first). `param` renders the
 * named filter as a parameter of the store's dialect; every leg uses the same parameters.
 */
export function ledgerRowsSql(filters: LedgerFilters, param: (name: keyof LedgerFilters) => string): string {
  const leg = (src: string, side: 'debit' | 'credit', idx: number, amount: string): string => {
    const where = ['amount_micros > 0'];
    if (filters.account) where.push(`${side}_account = ${param('account')}`);
    if (filters.period) where.push(`period = ${param('period')}`);
    if (filters.beforePeriod) where.push(`period < ${param('beforePeriod')}`);
    return `SELECT tx_id, code, effective_at_ms, recorded_at_ms, period, cause_id, currency, capacity,
      ${side}_account AS account, ${amount} AS amount_micros, ${idx} AS idx
      FROM ${src} WHERE ${where.join(' AND ')}`;
  };
  const legs = SOURCES.flatMap((src) => [
    leg(src, 'debit', 0, 'amount_micros'),
    leg(src, 'credit', 1, '-amount_micros'),
  ]);
  return `SELECT tx_id, code, effective_at_ms, recorded_at_ms, period, cause_id, currency, capacity, account, amount_micros
    FROM (${legs.join(' UNION ALL ')}) legs
    ORDER BY effective_at_ms, tx_id, idx`;
}

/** How a store's dialect says "this column is one of the ids" (transaction ids, or request ids). */
export interface IdSets {
  /** `column` is one of the transaction ids. */
  readonly txIds: (column: string) => string;
  /** `column` is the request id of one of the ids that name a revenue transaction (`revenue:<id>`). */
  readonly requestIds: (column: string) => string;
}

/** What starts a row's payload (rowPayload), and no other: a whole payload starts with its id. */
export const ROW_PAYLOAD_MARK = '=';

/**
 * A record's revenue payload, whole, from its row (SQLite and PostgreSQL alike). A row may keep
 * only what is not its own (src/ledger/plan-postings.ts rowPayload: `=` then the revenue,
 * currency, seller and capacity); the record's fields go before it as revenuePayload puts them:
 * id, tenant, model, version ('' for none), start time and the four token buckets, joined by '|'.
 * Any other payload (whole, or an earlier build's digest) is read as it is.
 */
export const REVENUE_PAYLOAD = `CASE WHEN substr(revenue_hash, 1, 1) = '${ROW_PAYLOAD_MARK}' THEN request_id || '|' || tenant_id || '|' || model
    || '|' || COALESCE(model_version, '') || '|' || started_at_ms || '|' || tokens_input_uncached || '|' || tokens_input_cached
    || '|' || tokens_output || '|' || tokens_reasoning || '|' || substr(revenue_hash, 2) ELSE revenue_hash END`;

/** Whether a payload is a row's (rowPayload): it can be kept only in its record's row. */
export function isRowPayload(payload: string): boolean {
  return payload.startsWith(ROW_PAYLOAD_MARK);
}

/** Refused: a row's payload for a revenue kept apart from its record, which would lose its fields. */
export function rowPayloadApart(txId: string): EntenteError {
  return new EntenteError(
    'ledger_invariant_violated',
    `${txId} carries its record's row payload, but its record is not stored; it is not kept apart`,
  );
}

/** The payload of each of the ids that is already a transaction, wherever it is kept (whole). */
export function existingSql(ids: IdSets): string {
  return `SELECT tx_id, payload_hash FROM ledger_transactions WHERE ${ids.txIds('tx_id')}
    UNION ALL
    SELECT 'revenue:' || request_id, ${REVENUE_PAYLOAD} FROM usage_records WHERE revenue_hash IS NOT NULL AND ${ids.requestIds('request_id')}`;
}

/**
 * For each id X: Σ of the receivable legs of X and of its refunds (cause_id = X), for the ids
 * that have any.
 */
export function receivableTotalsSql(ids: IdSets): string {
  const receivable = (src: string, where: string) =>
    `SELECT CASE WHEN code = 'refund' THEN cause_id ELSE tx_id END AS k,
      CASE WHEN debit_account LIKE 'receivable:%' THEN amount_micros ELSE -amount_micros END AS amount
    FROM ${src}
    WHERE amount_micros > 0 AND (debit_account LIKE 'receivable:%' OR credit_account LIKE 'receivable:%') AND ${where}`;
  const embedded = EMBEDDED_REVENUE.replace(
    'WHERE revenue_hash IS NOT NULL',
    `WHERE revenue_hash IS NOT NULL AND ${ids.requestIds('request_id')}`,
  );
  return `SELECT k, SUM(amount) AS total FROM (
      ${receivable('ledger_transactions', `(${ids.txIds('tx_id')} OR (code = 'refund' AND ${ids.txIds('cause_id')}))`)}
      UNION ALL
      ${receivable(`${embedded} embedded`, 'TRUE')}
    ) legs GROUP BY k`;
}

/**
 * Every ledger status a plan gives, by request id: its usageStatus, and with `records` each
 * record's (a repeated id: its first record's), for a store that marks by id.
 */
export function planStatuses(
  p: PostingPlan,
  insertUsage: readonly UsageRecord[],
): ReadonlyMap<string, number> {
  const r = p.records;
  if (!r) return p.usageStatus;
  const m = new Map(p.usageStatus);
  for (let i = 0; i < insertUsage.length; i++) {
    const id = insertUsage[i]!.requestId;
    if (!m.has(id)) m.set(id, r.status[i]!);
  }
  return m;
}

/**
 * A plan by record, from one by id (a plan without `records`): each record's own revenue
 * transaction and status (a repeated id's first record has them; a repeat, none and pending),
 * the other transactions, and the statuses of records that are not among insertUsage (`apart`).
 */
export function recordsPlanOf(
  p: PostingPlan,
  insertUsage: readonly UsageRecord[],
): RecordsPlan & { readonly apart: readonly (readonly [string, number])[] } {
  const first = new Map<string, number>();
  for (let i = 0; i < insertUsage.length; i++) {
    const id = insertUsage[i]!.requestId;
    if (!first.has(id)) first.set(id, i);
  }
  const revenue = new Array<StoredTx | undefined>(insertUsage.length);
  const others: StoredTx[] = [];
  for (const tx of p.txs) {
    const keeper = keeperOf(tx);
    const i = keeper === null ? undefined : first.get(keeper);
    if (i !== undefined && revenue[i] === undefined) revenue[i] = tx;
    else others.push(tx);
  }
  const status = new Uint8Array(insertUsage.length); // 0: pending
  const apart: [string, number][] = [];
  for (const [rid, s] of p.usageStatus) {
    const i = first.get(rid);
    if (i === undefined) apart.push([rid, s]);
    else status[i] = s;
  }
  return { revenue, status, others, apart };
}
