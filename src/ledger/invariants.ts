// The ledger's invariants, asserted at run time (TigerBeetle asserts pre- and postconditions
// everywhere): a plan that breaks one throws before the store commits it, so a bug can make a
// posting fail but never make the books wrong. docs/ledger.md states each as a formula.
//   balance:  for every transaction,  Σ entries.amount = 0
//   cap:      for every share term,   0 ≤ accrued ≤ cap   (cap = ∞ when uncapped)
//   past:     a usage posting's accrual delta ≥ 0 (only a refund lowers an accrual)
import { EntenteError } from '../errors/index.js';

interface TxLike {
  readonly txId: string;
  readonly entries: readonly { readonly amountMicros: bigint }[];
}

export function assertBalanced(txs: readonly TxLike[]): void {
  for (const tx of txs) {
    let sum = 0n;
    for (const e of tx.entries) sum += e.amountMicros;
    if (sum !== 0n)
      throw new EntenteError(
        'ledger_invariant_violated',
        `transaction ${tx.txId} does not balance: its entries sum to ${sum} micro-units`,
      );
  }
}

export function assertAccrualWithinCap(
  termId: string,
  accruedMicros: bigint,
  capMicros: bigint | null,
): void {
  if (accruedMicros < 0n || (capMicros !== null && accruedMicros > capMicros))
    throw new EntenteError(
      'ledger_invariant_violated',
      `revenue share ${termId}: accrued ${accruedMicros} is outside 0..${capMicros ?? '∞'} micro-units`,
    );
}

/** Ledger rows (one per entry) grouped by transaction must each sum to zero. */
export function assertRowsBalanced(
  rows: readonly { readonly txId: string; readonly amountMicros: bigint }[],
): void {
  const sums = new Map<string, bigint>();
  for (const r of rows) sums.set(r.txId, (sums.get(r.txId) ?? 0n) + r.amountMicros);
  for (const [txId, sum] of sums)
    if (sum !== 0n)
      throw new EntenteError(
        'ledger_invariant_violated',
        `stored transaction ${txId} does not balance: its rows sum to ${sum} micro-units`,
      );
}
