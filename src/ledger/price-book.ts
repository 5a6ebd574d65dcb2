// Price books: per model (optionally per model version), per token bucket, in micro-units of one
// currency per million tokens; versioned by effective date; immutable once written (a new price
// means a new book). Prices resolve per model: the newest book in effect that prices a model (or
// retires its price) decides it, so a book that adds one model leaves the others priced.
// Usage arrives in disjoint buckets (canonical/usage.ts), so each token is priced exactly once: a
// cached input token at the cached price, never also at the input price.
import { z } from 'zod';
import { globMatches } from '../agreements/index.js';
import { instant } from '../agreements/schema.js';
import type { TokenUsage } from '../canonical/index.js';
import { ConfigError, parseYaml, readSourceFile, zodProblems } from '../config/index.js';
import { parseMajor } from './money.js';

const perMillion = z.string().transform((s, ctx) => {
  try {
    const v = parseMajor(s);
    if (v < 0n) throw new Error('a price is not negative');
    return v;
  } catch (err) {
    ctx.addIssue({
      code: 'custom',
      message: `${(err as Error).message} (a price in major units per million tokens, e.g. "2.50")`,
    });
    return z.NEVER;
  }
});

const entrySchema = z.strictObject({
  model: z.string().min(1),
  modelVersion: z.string().min(1).optional(),
  inputUncached: perMillion,
  inputCached: perMillion,
  cacheWrite: perMillion.optional(),
  output: perMillion,
  /** Defaults to the output price: reasoning tokens are output tokens the client does not see. */
  reasoning: perMillion.optional(),
});

/** A book may withdraw a model's price from its effective date: the model is unpriced after. */
const retiredSchema = z.strictObject({
  model: z.string().min(1),
  modelVersion: z.string().min(1).optional(),
  retired: z.literal(true),
});

export const priceBooksSchema = z.strictObject({
  currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD'),
  books: z
    .array(
      z.strictObject({
        id: z.string().min(1),
        effectiveFrom: instant,
        prices: z.array(z.union([retiredSchema, entrySchema])).min(1),
      }),
    )
    .min(1)
    .refine(
      (b) => b.every((x, i) => i === 0 || x.effectiveFrom > b[i - 1]!.effectiveFrom),
      'books must be listed by effectiveFrom, each later than the one before',
    ),
});

export type PriceBooks = z.output<typeof priceBooksSchema>;
export type PriceEntry = z.output<typeof entrySchema>;

export function parsePriceBooks(text: string, file: string): PriceBooks {
  const source = parseYaml(text, file);
  const r = priceBooksSchema.safeParse(source.value);
  if (!r.success) throw new ConfigError(zodProblems(source, r.error));
  return r.data;
}

export function loadPriceBooks(path: string): PriceBooks {
  const { file, text } = readSourceFile(path, 'price-book');
  return parsePriceBooks(text, file);
}

type BookLine = PriceBooks['books'][number]['prices'][number];

function lineFor(
  lines: readonly BookLine[],
  model: string,
  modelVersion: string | null,
): BookLine | undefined {
  return (
    lines.find(
      (p) => p.modelVersion !== undefined && p.modelVersion === modelVersion && globMatches(p.model, model),
    ) ?? lines.find((p) => p.modelVersion === undefined && globMatches(p.model, model))
  );
}

/**
 * The price in force for a model version at an instant: from the newest book in effect that
 * prices it (an exact model-version line before a model-wide one); null = unpriced (fail closed),
 * also when that book retired the price.
 */
export function priceOf(
  books: PriceBooks,
  model: string,
  modelVersion: string | null,
  atMs: number,
): { bookId: string; entry: PriceEntry } | null {
  for (let i = books.books.length - 1; i >= 0; i--) {
    const b = books.books[i]!;
    if (b.effectiveFrom > atMs) continue;
    const line = lineFor(b.prices, model, modelVersion);
    if (!line) continue;
    return 'retired' in line ? null : { bookId: b.id, entry: line };
  }
  return null;
}

/** The resolved price of each model version at an instant, with the book it comes from. */
export function resolvedPrices(
  books: PriceBooks,
  models: readonly { readonly name: string; readonly versions: readonly string[] }[],
  atMs: number,
): { model: string; modelVersion: string; bookId: string | null; entry: PriceEntry | null }[] {
  return models.flatMap((m) =>
    m.versions.map((v) => {
      const p = priceOf(books, m.name, v, atMs);
      return { model: m.name, modelVersion: v, bookId: p?.bookId ?? null, entry: p?.entry ?? null };
    }),
  );
}

/** Catalog model versions no book prices at `atMs`: warned about at start and by `config validate`. */
export function unpricedWarnings(
  books: PriceBooks,
  models: readonly { readonly name: string; readonly versions: readonly string[] }[],
  atMs: number,
): string[] {
  return resolvedPrices(books, models, atMs)
    .filter((p) => p.entry === null)
    .map(
      (p) =>
        `[model_unpriced] ${p.model} (version ${p.modelVersion}) has no price in force at ${new Date(atMs).toISOString()}: requests for it are refused (ledger.unpriced: refuse) or served unbilled (flag); add it to a price book`,
    );
}

/** One micro-unit is this many pico-units: revenue is computed exactly in pico-units. */
export const PICO_PER_MICRO = 1_000_000n;

/**
 * Revenue in pico-units (a millionth of a micro-unit), exact: Σ tokens × price per million
 * tokens in micro-units. Nothing is rounded here; the ledger rounds once where money is booked.
 */
export function revenuePicoOf(entry: PriceEntry, u: TokenUsage): bigint {
  return (
    BigInt(u.tokensInputUncached) * entry.inputUncached +
    BigInt(u.tokensInputCached) * entry.inputCached +
    BigInt(u.tokensOutput) * entry.output +
    BigInt(u.tokensReasoning) * (entry.reasoning ?? entry.output)
  );
}

/** Revenue of one request rounded down to the micro-unit (for display; the ledger books exactly). */
export function revenueOf(entry: PriceEntry, u: TokenUsage): bigint {
  return revenuePicoOf(entry, u) / PICO_PER_MICRO;
}
