// `entente prices show [--as-of D]` and `entente audit [--limit N] [--action A]`: what each model
// is priced at and from which book, and who changed what governs traffic and money.

import { toJson } from '../admin/index.js';
import { systemClock } from '../clock/index.js';
import { formatMicros, loadPriceBooks, resolvedPrices } from '../ledger/index.js';
import type { CliInput, Fail } from './cli-input.js';
import { loadCliConfig, openCliStore } from './load-cli-config.js';
import { catalogVersions } from './preflight.js';

const out = (s: string): void => {
  process.stdout.write(`${s}\n`);
};

export async function pricesCommand(
  sub: string | undefined,
  input: CliInput,
  configFile: string,
  fail: Fail,
): Promise<void> {
  if (sub !== 'show')
    fail(`unknown command 'prices ${sub ?? ''}'. Try: entente prices show [--as-of D] [--json]`);
  const { values } = input;
  const loaded = loadCliConfig(configFile);
  if (!loaded.priceBooksFile) fail('no price books in the config (ledger.priceBooks)', 1);
  const books = loadPriceBooks(loaded.priceBooksFile);
  const atMs = values['as-of'] === undefined ? systemClock.now() : Date.parse(values['as-of']);
  if (Number.isNaN(atMs)) fail(`--as-of must be an ISO-8601 date or instant, got '${values['as-of']}'`);
  const rows = resolvedPrices(books, catalogVersions(loaded), atMs);
  if (input.flags.has('json'))
    return out(toJson({ currency: books.currency, asOf: new Date(atMs).toISOString(), prices: rows }));
  out(`prices in ${books.currency} per million tokens, as of ${new Date(atMs).toISOString()}`);
  for (const r of rows) {
    const e = r.entry;
    out(
      `  ${`${r.model}@${r.modelVersion}`.padEnd(36)} ${
        e
          ? `in ${formatMicros(e.inputUncached)}  cached ${formatMicros(e.inputCached)}  out ${formatMicros(e.output)}  reasoning ${formatMicros(e.reasoning ?? e.output)}  (book ${r.bookId})`
          : 'UNPRICED: requests are refused (ledger.unpriced: refuse) or served unbilled (flag)'
      }`,
    );
  }
}

export async function auditCommand(
  _sub: string | undefined,
  input: CliInput,
  configFile: string,
  fail: Fail,
): Promise<void> {
  const { values } = input;
  const limit = values.limit === undefined ? 50 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
    fail('--limit must be a whole number from 1 to 10000');
  const loaded = loadCliConfig(configFile);
  const store = await openCliStore(loaded);
  try {
    const entries = await store.listAudit({
      limit,
      ...(values.action ? { action: values.action } : {}),
      ...(values.subject ? { subject: values.subject } : {}),
    });
    if (input.flags.has('json')) return out(toJson(entries));
    for (const e of entries) {
      const d = e.detail as Record<string, unknown> | null;
      const { text: _text, ...shown } = d && typeof d === 'object' ? d : { value: d };
      out(
        `#${e.seq} ${new Date(e.atMs).toISOString()} ${e.actor} ${e.action} ${e.subject} ${JSON.stringify(shown)}`,
      );
    }
  } finally {
    await store.close();
  }
}
