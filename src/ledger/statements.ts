// Statements over half-open monthly periods: opening balance, the period's entries, closing
// balance, per account. A closed period receives no entries (later postings land in the first
// open period), so a closed statement never changes. Plus balances and the revenue-share status.
import { type Agreement, versionAsOf } from '../agreements/index.js';
import type { LedgerRow, Store } from '../store/index.js';
import { assertRowsBalanced } from './invariants.js';
import { formatMicros } from './money.js';
import { shareTotals } from './share-totals.js';

export interface AccountStatement {
  readonly account: string;
  readonly openingMicros: bigint;
  readonly entries: readonly LedgerRow[];
  readonly closingMicros: bigint;
}

export interface Statement {
  readonly period: string;
  readonly closed: boolean;
  readonly accounts: readonly AccountStatement[];
}

export async function buildStatement(store: Store, period: string, account?: string): Promise<Statement> {
  const before = await store.ledgerRows({ beforePeriod: period, ...(account ? { account } : {}) });
  const during = await store.ledgerRows({ period, ...(account ? { account } : {}) });
  // Reading checks the books again: each transaction (whole, when no account filter cuts it) balances.
  if (!account) {
    assertRowsBalanced(before);
    assertRowsBalanced(during);
  }
  const opening = new Map<string, bigint>();
  for (const r of before) opening.set(r.account, (opening.get(r.account) ?? 0n) + r.amountMicros);
  const names = [...new Set([...opening.keys(), ...during.map((r) => r.account)])].sort();
  const accounts = names.map((a) => {
    const entries = during.filter((r) => r.account === a);
    const o = opening.get(a) ?? 0n;
    return {
      account: a,
      openingMicros: o,
      entries,
      closingMicros: entries.reduce((s, r) => s + r.amountMicros, o),
    };
  });
  return { period, closed: (await store.closedPeriods()).has(period), accounts };
}

const csvCell = (s: string) => (/[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);

export function statementCsv(s: Statement): string {
  const lines = ['period,account,kind,tx_id,code,effective_at,cause_id,amount'];
  for (const a of s.accounts) {
    lines.push(
      [s.period, a.account, 'opening', '', '', '', '', formatMicros(a.openingMicros)].map(csvCell).join(','),
    );
    for (const e of a.entries) {
      lines.push(
        [
          s.period,
          a.account,
          'entry',
          e.txId,
          e.code,
          new Date(e.effectiveAtMs).toISOString(),
          e.causeId ?? '',
          formatMicros(e.amountMicros),
        ]
          .map(csvCell)
          .join(','),
      );
    }
    lines.push(
      [s.period, a.account, 'closing', '', '', '', '', formatMicros(a.closingMicros)].map(csvCell).join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

export function statementJson(s: Statement): unknown {
  return {
    period: s.period,
    closed: s.closed,
    accounts: s.accounts.map((a) => ({
      account: a.account,
      opening: formatMicros(a.openingMicros),
      closing: formatMicros(a.closingMicros),
      entries: a.entries.map((e) => ({
        txId: e.txId,
        code: e.code,
        effectiveAt: new Date(e.effectiveAtMs).toISOString(),
        causeId: e.causeId,
        amount: formatMicros(e.amountMicros),
      })),
    })),
  };
}

export async function balances(store: Store): Promise<Map<string, bigint>> {
  const out = new Map<string, bigint>();
  for (const r of await store.ledgerRows()) out.set(r.account, (out.get(r.account) ?? 0n) + r.amountMicros);
  return out;
}

export interface ShareStatus {
  readonly termId: string;
  readonly payer: string;
  readonly payee: string;
  readonly rate: string;
  readonly eligibleRevenueMicros: bigint;
  readonly accruedMicros: bigint;
  readonly capMicros: bigint | null;
  readonly remainingMicros: bigint | null;
  /** Accrued per day over the window before `nowMs`. */
  readonly runRatePerDayMicros: bigint;
  /**
   * When the cap is reached at that run-rate (YYYY-MM-DD); `reached`; `not within 100 years`;
   * `not before the term ends`; null without a cap, a run-rate, or when the share is no longer in force.
   */
  readonly capReachedAt: string | null;
  /** Whether the agreement version in force now states the share and its term covers now. */
  readonly inForce: boolean;
  /** The share's term as the latest version that states it gives it (ISO instants; to: null = open). */
  readonly term: { readonly from: string; readonly to: string | null };
  /** The latest version that states the share. */
  readonly version: string;
  readonly currency: string;
}

export async function revenueShareStatus(
  store: Store,
  agreement: Agreement,
  currency: string,
  nowMs: number,
  windowDays = 30,
): Promise<ShareStatus[]> {
  const states = await store.accrualStates();
  const rows = await store.ledgerRows();
  const since = nowMs - windowDays * 86_400_000;
  const totals = shareTotals(agreement, states);
  const seen = new Map<string, ShareStatus>();
  const current = versionAsOf(agreement, nowMs);
  for (const v of agreement.versions) {
    for (const r of v.terms.revenueShares) {
      const termId = `${agreement.id}/${r.id}`;
      const s = totals.get(termId) ?? { revenueMicros: 0n, accruedMicros: 0n };
      const cap = r.cap?.amount ?? null;
      const recent = rows.filter(
        (x) =>
          x.code === 'accrual' &&
          x.account.startsWith(`revshare-payable:${r.payee}:${termId}`) &&
          x.effectiveAtMs >= since &&
          x.effectiveAtMs < nowMs,
      );
      const perDay = -recent.reduce((a, x) => a + x.amountMicros, 0n) / BigInt(windowDays);
      const remaining = cap === null ? null : cap - s.accruedMicros;
      const endMs = r.term.to ?? null;
      const inForce =
        (current?.terms.revenueShares.some((x) => x.id === r.id) ?? false) &&
        nowMs >= r.term.from &&
        (endMs === null || nowMs < endMs);
      let capReachedAt: string | null = null;
      if (remaining === 0n) capReachedAt = 'reached';
      else if (inForce && remaining !== null && remaining > 0n && perDay > 0n) {
        const days = (remaining + perDay - 1n) / perDay;
        const atMs = days > 36_525n ? null : nowMs + Number(days) * 86_400_000;
        capReachedAt =
          atMs === null
            ? 'not within 100 years'
            : endMs !== null && atMs >= endMs
              ? 'not before the term ends'
              : new Date(atMs).toISOString().slice(0, 10);
      }
      // The latest version's wording of the term wins (it is the same id across versions).
      seen.set(termId, {
        termId,
        payer: r.payer,
        payee: r.payee,
        rate: `${r.rate.num}/${r.rate.den}`,
        eligibleRevenueMicros: s.revenueMicros,
        accruedMicros: s.accruedMicros,
        capMicros: cap,
        remainingMicros: remaining,
        runRatePerDayMicros: perDay,
        capReachedAt,
        inForce,
        term: {
          from: new Date(r.term.from).toISOString(),
          to: endMs === null ? null : new Date(endMs).toISOString(),
        },
        version: v.id,
        currency: r.cap?.currency ?? currency,
      });
    }
  }
  return [...seen.values()];
}
