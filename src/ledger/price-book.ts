// Price books: per model (optionally per model version), per token bucket, in micro-units of one
// currency per million tokens; versioned by effective date; immutable once written (a new price
// means a new book). Usage arrives in disjoint buckets (canonical/usage.ts), so each token is
// priced exactly once: a cached input token at the cached price, never also at the input price.
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

export const priceBooksSchema = z.strictObject({
  currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD'),
  books: z
    .array(
      z.strictObject({ id: z.string().min(1), effectiveFrom: instant, prices: z.array(entrySchema).min(1) }),
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

/** The price in force for a model version at an instant; null = unpriced (fail closed). */
export function priceOf(
  books: PriceBooks,
  model: string,
  modelVersion: string | null,
  atMs: number,
): { bookId: string; entry: PriceEntry } | null {
  for (let i = books.books.length - 1; i >= 0; i--) {
    const b = books.books[i]!;
    if (b.effectiveFrom > atMs) continue;
    const exact = b.prices.find(
      (p) => p.modelVersion !== undefined && p.modelVersion === modelVersion && globMatches(p.model, model),
    );
    const any = b.prices.find((p) => p.modelVersion === undefined && globMatches(p.model, model));
    const entry = exact ?? any;
    return entry ? { bookId: b.id, entry } : null;
  }
  return null;
}

/** Revenue in micro-units: Σ tokens × price per million, floored once at the end. */
export function revenueOf(entry: PriceEntry, u: TokenUsage): bigint {
  const sum =
    BigInt(u.tokensInputUncached) * entry.inputUncached +
    BigInt(u.tokensInputCached) * entry.inputCached +
    BigInt(u.tokensOutput) * entry.output +
    BigInt(u.tokensReasoning) * (entry.reasoning ?? entry.output);
  return sum / 1_000_000n;
}
