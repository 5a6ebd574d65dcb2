// Money is bigint micro-units of a currency (1 USD = 1_000_000). One documented rounding step:
// amounts are floored to the micro-unit where a product is divided (docs/ledger.md).

import { EntenteError } from '../errors/index.js';

export const MICROS = 1_000_000n;

/** "12.345678" (major units, at most 6 decimals) → 12_345_678n. Throws on anything else. */
export function parseMajor(s: string): bigint {
  const m = /^(-)?(\d+)(?:\.(\d{1,6}))?$/.exec(s.trim().replaceAll('_', ''));
  if (!m) throw new EntenteError('invalid_amount', `'${s}' is not a decimal amount with at most 6 decimals`);
  const v = BigInt(m[2]!) * MICROS + BigInt((m[3] ?? '').padEnd(6, '0'));
  return m[1] ? -v : v;
}

/** 12_345_678n → "12.345678"; always six decimals, so CSV columns line up and nothing is lost. */
export function formatMicros(v: bigint): string {
  const neg = v < 0n;
  const a = neg ? -v : v;
  return `${neg ? '-' : ''}${a / MICROS}.${(a % MICROS).toString().padStart(6, '0')}`;
}

/** floor(a × num / den) for a ≥ 0. */
export function mulRatioFloor(a: bigint, num: bigint, den: bigint): bigint {
  return (a * num) / den;
}
