// What `serve`, `config validate` and `agreement validate` all check before they call a
// configuration good, so the three never disagree: the config, the credentials each upstream
// reads (environment variables, key files), the agreement against the
// catalog's clouds, the agreement's caps against the price books' currency, and which catalog
// models no price book prices (a warning: those requests are refused or served unbilled).
import { type Agreement, loadAgreement } from '../agreements/index.js';
import { systemClock } from '../clock/index.js';
import type { LoadedConfig } from '../config/index.js';
import { resolveCredentials } from '../credentials/index.js';
import { EntenteError } from '../errors/index.js';
import { capCurrencyProblems, loadPriceBooks, type PriceBooks, unpricedWarnings } from '../ledger/index.js';
import { silentLogger } from '../observability/index.js';

export interface Preflight {
  readonly agreement: Agreement | null;
  readonly priceBooks: PriceBooks | null;
  readonly warnings: readonly string[];
}

export function cloudsOf(loaded: LoadedConfig): Set<string> {
  const upstreams = new Map(loaded.config.upstreams.map((u) => [u.id, u.cloud]));
  return new Set(loaded.config.models.flatMap((m) => m.deployments.map((d) => upstreams.get(d.upstream)!)));
}

export function catalogVersions(loaded: LoadedConfig) {
  return loaded.config.models.map((m) => ({
    name: m.name,
    versions: [...new Set(m.deployments.map((d) => d.modelVersion))],
  }));
}

/** Throws a located ConfigError or a coded EntenteError; returns what was loaded and the warnings. */
export function preflight(
  loaded: LoadedConfig,
  nowMs: number,
  agreementFile: string | null = loaded.agreementFile,
): Preflight {
  // The credentials each upstream reads (environment variables, key files), as serve will.
  for (const u of loaded.config.upstreams) resolveCredentials(u, process.env, systemClock, silentLogger);
  const agreement = agreementFile
    ? loadAgreement(agreementFile, {
        clouds: cloudsOf(loaded),
        pools: new Set((loaded.config.capacity?.pools ?? []).map((p) => p.id)),
      })
    : null;
  const priceBooks = loaded.priceBooksFile ? loadPriceBooks(loaded.priceBooksFile) : null;
  if (agreement && priceBooks) checkCapCurrency(agreement, priceBooks);
  const warnings = priceBooks ? unpricedWarnings(priceBooks, catalogVersions(loaded), nowMs) : [];
  return { agreement, priceBooks, warnings };
}

/** A cap in a currency the price books do not bill in could never be reached: refused. */
export function checkCapCurrency(agreement: Agreement, priceBooks: PriceBooks): void {
  const problems = capCurrencyProblems(agreement, priceBooks);
  if (problems.length > 0)
    throw new EntenteError(
      'price_books_disagree',
      `the agreement and the price books disagree:\n  ${problems.join('\n  ')}`,
    );
}
