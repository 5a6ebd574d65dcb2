// How a ledger transaction is stored: as one row holding both of its legs (a transfer: debit one
// account, credit another, by one positive amount), as TigerBeetle stores its transfers. Every
// transaction Entente posts has two legs or none (a revenue booked at zero), so a transaction
// balances by construction and costs one row, not three (docs/ledger.md, "Storage").
// The stores still expose entries: `ledger_entries` is a view that unfolds each row into its legs.
import { EntenteError } from '../errors/index.js';
import type { StoredTx } from './types.js';

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

/** The legs of every transaction, as the entries table they replace had them (debit first). */
export const ENTRIES_VIEW = `CREATE VIEW ledger_entries (tx_id, idx, account, amount_micros, period) AS
  SELECT tx_id, 0, debit_account, amount_micros, period FROM ledger_transactions WHERE amount_micros > 0
  UNION ALL
  SELECT tx_id, 1, credit_account, -amount_micros, period FROM ledger_transactions WHERE amount_micros > 0`;

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
 * named filter as a parameter of the store's dialect; both legs use the same parameters.
 */
export function ledgerRowsSql(filters: LedgerFilters, param: (name: keyof LedgerFilters) => string): string {
  const leg = (side: 'debit' | 'credit', idx: number, amount: string): string => {
    const where = ['amount_micros > 0'];
    if (filters.account) where.push(`${side}_account = ${param('account')}`);
    if (filters.period) where.push(`period = ${param('period')}`);
    if (filters.beforePeriod) where.push(`period < ${param('beforePeriod')}`);
    return `SELECT tx_id, code, effective_at_ms, recorded_at_ms, period, cause_id, currency, capacity,
      ${side}_account AS account, ${amount} AS amount_micros, ${idx} AS idx
      FROM ledger_transactions WHERE ${where.join(' AND ')}`;
  };
  return `SELECT tx_id, code, effective_at_ms, recorded_at_ms, period, cause_id, currency, capacity, account, amount_micros
    FROM (${leg('debit', 0, 'amount_micros')} UNION ALL ${leg('credit', 1, '-amount_micros')}) legs
    ORDER BY effective_at_ms, tx_id, idx`;
}

/**
 * For each id X: Σ of the receivable legs of X and of its refunds (cause_id = X), for the ids
 * that have any. `inIds(column)` renders "column is one of the ids" in the store's dialect.
 */
export function receivableTotalsSql(inIds: (column: string) => string): string {
  return `SELECT CASE WHEN code = 'refund' THEN cause_id ELSE tx_id END AS k,
      SUM(CASE WHEN debit_account LIKE 'receivable:%' THEN amount_micros ELSE -amount_micros END) AS total
    FROM ledger_transactions
    WHERE amount_micros > 0 AND (debit_account LIKE 'receivable:%' OR credit_account LIKE 'receivable:%')
      AND (${inIds('tx_id')} OR (code = 'refund' AND ${inIds('cause_id')}))
    GROUP BY 1`;
}
