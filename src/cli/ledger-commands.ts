// `entente ledger …`, `entente revenue-share status` and `entente usage replay`.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { toJson } from '../admin/index.js';
import { loadAgreement } from '../agreements/index.js';
import { auditor, cliActor } from '../audit/index.js';
import { systemClock } from '../clock/index.js';
import { EntenteError } from '../errors/index.js';
import {
  balances,
  buildStatement,
  formatMicros,
  type LedgerSetup,
  ledgerSetupFor,
  loadPriceBooks,
  parseMajor,
  periodOf,
  postRefund,
  postUsage,
  revenueShareStatus,
  statementCsv,
  statementJson,
} from '../ledger/index.js';
import { silentLogger } from '../observability/index.js';
import { declarationsIn, readRolloutLog } from '../rollout/index.js';
import { spoolOwner, UsageSpool } from '../spool/index.js';
import type { Store } from '../store/index.js';
import type { CliInput, Fail } from './cli-input.js';
import { loadCliConfig, openCliStore } from './load-cli-config.js';

const out = (s: string): void => {
  process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
};

async function withLedger<T>(
  configFile: string,
  fail: Fail,
  fn: (store: Store, setup: LedgerSetup) => Promise<T>,
  opts: { create?: boolean } = {},
): Promise<T> {
  const loaded = loadCliConfig(configFile);
  if (!loaded.priceBooksFile || !loaded.config.ledger)
    fail('no ledger in the config: add ledger.priceBooks and ledger.owner');
  const store = await openCliStore(loaded, opts);
  const setup: LedgerSetup = ledgerSetupFor(
    loaded.config,
    loadPriceBooks(loaded.priceBooksFile),
    loaded.agreementFile ? loadAgreement(loaded.agreementFile) : null,
    declarationsIn(await readRolloutLog(store)),
  );
  try {
    return await fn(store, setup);
  } finally {
    await store.close();
  }
}

/** Posts everything pending (what a running gateway does every ledger.intervalMs). */
async function drain(store: Store, setup: LedgerSetup): Promise<{ posted: number; unpriced: number }> {
  const total = { posted: 0, unpriced: 0 };
  for (;;) {
    const batch = await store.pendingUsage(1000);
    if (batch.length === 0) return total;
    const r = await postUsage(store, batch, setup);
    total.posted += r.posted;
    total.unpriced += r.unpriced;
  }
}

export async function ledgerCommand(
  sub: string | undefined,
  input: CliInput,
  configFile: string,
  fail: Fail,
): Promise<void> {
  const { values } = input;
  await withLedger(configFile, fail, async (store, setup) => {
    await drain(store, setup);
    if (sub === 'balances') {
      const b = await balances(store);
      let sum = 0n;
      for (const [account, v] of [...b].sort()) {
        out(`${account.padEnd(64)} ${formatMicros(v).padStart(22)} ${setup.priceBooks.currency}`);
        sum += v;
      }
      out(
        `${'(sum of all balances: a balanced ledger sums to zero)'.padEnd(64)} ${formatMicros(sum).padStart(22)}`,
      );
      return;
    }
    if (sub === 'statement') {
      const period = values.period ?? periodOf(systemClock.now());
      if (!/^\d{4}-\d{2}$/.test(period)) fail(`--period must be YYYY-MM, got '${period}'`);
      const s = await buildStatement(store, period, values.account);
      const format = values.format ?? 'csv';
      if (format === 'csv') return out(statementCsv(s));
      if (format === 'json') return out(JSON.stringify(statementJson(s), null, 2));
      fail(`--format must be csv or json, got '${format}'`);
    }
    if (sub === 'close') {
      if (!values.period || !/^\d{4}-\d{2}$/.test(values.period))
        fail('usage: entente ledger close --period YYYY-MM');
      const closed = await store.closePeriod(values.period, systemClock.now());
      if (closed) await auditor(store, systemClock, cliActor()).record('period.close', values.period, {});
      out(
        closed
          ? `closed ${values.period}: its statement will not change; later entries land in the next open period`
          : `${values.period} was already closed`,
      );
      return;
    }
    if (sub === 'refund') {
      if (!values.request || !values.amount || !values.id)
        fail('usage: entente ledger refund --request REQUEST_ID --amount 1.25 --id REFUND_ID');
      let amountMicros = 0n;
      try {
        amountMicros = parseMajor(values.amount);
      } catch (err) {
        fail(`--amount: ${(err as Error).message}`);
      }
      const r = await postRefund(
        store,
        { refundId: values.id, requestId: values.request, amountMicros, atMs: systemClock.now() },
        setup,
      );
      if (!r.ok) fail(`refused: ${r.code}: ${r.message}`, 1);
      if (!r.duplicate)
        await auditor(store, systemClock, cliActor()).record('refund', values.request, {
          refundId: values.id,
          amount: values.amount,
          accrualChange: formatMicros(r.accrualChangeMicros),
        });
      out(
        r.duplicate
          ? `refund ${values.id} was already recorded`
          : `refunded ${formatMicros(amountMicros)} ${setup.priceBooks.currency} of ${values.request}; revenue-share accrual changed by ${formatMicros(r.accrualChangeMicros)}`,
      );
      return;
    }
    fail(
      `unknown command 'ledger ${sub ?? ''}'. Try: balances, statement --period YYYY-MM [--format csv|json], close --period YYYY-MM, refund --request R --amount A --id ID`,
    );
  });
}

export async function revenueShareCommand(
  sub: string | undefined,
  input: CliInput,
  configFile: string,
  fail: Fail,
): Promise<void> {
  if (sub !== 'status') fail('unknown command. Try: entente revenue-share status [--json]');
  await withLedger(configFile, fail, async (store, setup) => {
    await drain(store, setup);
    if (!setup.agreement) fail('no agreement in the config (agreement.file)');
    const status = await revenueShareStatus(
      store,
      setup.agreement,
      setup.priceBooks.currency,
      systemClock.now(),
    );
    if (input.flags.has('json')) return out(toJson(status));
    for (const s of status) {
      out(
        `${s.termId}: ${s.payer} → ${s.payee} at ${s.rate}; eligible revenue ${formatMicros(s.eligibleRevenueMicros)}, accrued ${formatMicros(s.accruedMicros)} ${s.currency}` +
          (s.capMicros === null
            ? ', no cap'
            : `, cap ${formatMicros(s.capMicros)}, remaining ${formatMicros(s.remainingMicros!)}`) +
          `; run-rate ${formatMicros(s.runRatePerDayMicros)}/day` +
          (!s.inForce ? `; no longer in force (last stated by ${s.version})` : '') +
          (s.capReachedAt === null
            ? ''
            : s.capReachedAt === 'reached'
              ? '; cap reached'
              : /^\d{4}-/.test(s.capReachedAt)
                ? `; at that run-rate the cap is reached on ${s.capReachedAt}`
                : `; at that run-rate the cap is ${s.capReachedAt.replace(/^not/, 'not reached')}`),
      );
    }
  });
}

export async function usageCommand(
  sub: string | undefined,
  _input: CliInput,
  configFile: string,
  fail: Fail,
): Promise<void> {
  if (sub !== 'replay') fail('unknown command. Try: entente usage replay');
  // A replay empties the ledger and rebuilds it: a gateway posting at the same time would be
  // wiped and then reported as a mismatch. Refuse while this node's gateway holds its spool.
  const dataDir = loadCliConfig(configFile).dataDir;
  const owner = spoolOwner(join(dataDir, 'spool'));
  if (owner !== null)
    throw new EntenteError(
      'spool_locked',
      `a gateway (process ${owner}) is serving from ${dataDir}; stop it before \`entente usage replay\`, which rebuilds the ledger from scratch`,
    );
  await withLedger(configFile, fail, async (store, setup) => {
    await drain(store, setup);
    const before = await balances(store);
    // Refunds are ledger events, not usage: keep them, and apply them again after the usage.
    const refunds = (await store.ledgerRows())
      .filter(
        (row) =>
          row.code === 'refund' &&
          row.account.startsWith('receivable:') &&
          row.causeId?.startsWith('revenue:'),
      )
      .map((row) => ({
        refundId: row.txId.slice('refund:'.length),
        requestId: row.causeId!.slice('revenue:'.length),
        amountMicros: -row.amountMicros,
        atMs: row.effectiveAtMs,
      }));
    await store.resetLedger();
    const r = await drain(store, setup);
    for (const refund of refunds) {
      const result = await postRefund(store, refund, setup);
      if (!result.ok)
        fail(`replaying refund ${refund.refundId} failed: ${result.code}: ${result.message}`, 1);
    }
    const after = await balances(store);
    const accounts = new Set([...before.keys(), ...after.keys()]);
    const diffs = [...accounts].filter((a) => (before.get(a) ?? 0n) !== (after.get(a) ?? 0n));
    out(`replayed ${r.posted} usage records (${r.unpriced} unpriced, flagged) and ${refunds.length} refunds`);
    if (diffs.length === 0)
      out(`identical: ${accounts.size} account balances match the ledger before the replay`);
    else {
      for (const a of diffs)
        out(
          `DIFFERS ${a}: before ${formatMicros(before.get(a) ?? 0n)}, after ${formatMicros(after.get(a) ?? 0n)}`,
        );
      fail('the rebuilt ledger differs (closed periods were reopened by the replay)', 1);
    }
  });
}

/**
 * `entente spool ship DIR`: stores and posts what a node's spool holds, for a node that will not
 * come back (its disk mounted elsewhere). Idempotent by request id: records the database has are
 * not doubled, so shipping a spool twice, or one its node already shipped, changes nothing.
 */
export async function spoolCommand(
  sub: string | undefined,
  input: CliInput,
  configFile: string,
  fail: Fail,
): Promise<void> {
  const dir = input.positionals[0];
  if (sub !== 'ship' || !dir)
    fail('usage: entente spool ship DIR   (a spool folder: <dataDir>/spool of that node)');
  if (!existsSync(dir)) fail(`no spool folder at ${dir}`, 1);
  const owner = spoolOwner(dir);
  if (owner !== null)
    throw new EntenteError(
      'spool_locked',
      `the spool ${dir} is in use by process ${owner}; it ships its own records`,
    );
  const loaded = loadCliConfig(configFile);
  await withLedger(
    configFile,
    fail,
    async (store, setup) => {
      const spool = await UsageSpool.open({
        dir,
        location: store.location,
        setup,
        batchSize: loaded.config.usage.batchSize,
        flushIntervalMs: loaded.config.usage.flushIntervalMs,
        fsyncIntervalMs: loaded.config.usage.fsyncIntervalMs,
        nice: 0,
        scanIntervalMs: 60_000,
        durability: 'process',
        maxBacklogRecords: loaded.config.usage.maxBacklogRecords,
        segmentBytes: loaded.config.usage.segmentBytes,
        log: silentLogger,
      });
      const recovered = spool.recovered;
      await spool.close(60_000);
      out(`shipped ${dir}: ${recovered} records the database did not have were stored and posted`);
    },
    { create: true },
  );
}
