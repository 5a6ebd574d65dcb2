// Lower-case hex of non-negative integers at a fixed width, from a table of byte pairs. The
// request path writes one for every request (a spool line's checksum) and once a millisecond (a
// request id's time): Number.prototype.toString(16) on a value past 2^31 takes V8's double path,
// about 2,800 instructions where this takes a few dozen (callgrind, bench/instructions-bench.ts).

const BYTE_HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** An unsigned 32-bit integer as 8 hex digits (what `(n >>> 0).toString(16).padStart(8, '0')` gives). */
export function hex8(n: number): string {
  return (
    BYTE_HEX[(n >>> 24) & 255]! +
    BYTE_HEX[(n >>> 16) & 255]! +
    BYTE_HEX[(n >>> 8) & 255]! +
    BYTE_HEX[n & 255]!
  );
}

/**
 * A non-negative safe integer below 2^48 as 12 hex digits (what `n.toString(16).padStart(12, '0')`
 * gives); anything else through toString, so the answer is the same for every input.
 */
export function hex12(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0 || n >= 2 ** 48) return n.toString(16).padStart(12, '0');
  const high = Math.floor(n / 2 ** 32);
  return BYTE_HEX[(high >>> 8) & 255]! + BYTE_HEX[high & 255]! + hex8(n >>> 0);
}
