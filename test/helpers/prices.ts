// The price books the limits, capacity and fleet tests share (USD per million tokens, as the
// public list prices): the figures their expected budgets and costs are computed from.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type PriceBooks, parsePriceBooks } from '../../src/ledger/index.js';

export const TEST_PRICES = `currency: USD
books:
  - id: list
    effectiveFrom: 2025-01-01T00:00:00Z
    prices:
      - { model: gpt-4o, inputUncached: "2.50", inputCached: "1.25", output: "10.00" }
      - { model: gpt-4o-mini, inputUncached: "0.15", inputCached: "0.075", output: "0.60" }
      - { model: gpt-4.1, inputUncached: "2.00", inputCached: "0.50", output: "8.00" }
`;

/** Metering on, for a test's gateway: the price book written in `dir`, the ledger's config line. */
export function metered(dir: string, intervalMs = 100): { ledgerYaml: string; priceBooks: PriceBooks } {
  const file = join(dir, 'prices.yaml');
  writeFileSync(file, TEST_PRICES);
  return {
    ledgerYaml: `ledger: { priceBooks: ${file}, owner: openai, intervalMs: ${intervalMs} }`,
    priceBooks: parsePriceBooks(TEST_PRICES, 'prices.yaml'),
  };
}
