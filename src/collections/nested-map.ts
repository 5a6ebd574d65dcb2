// A map keyed by a tuple of values, held as nested Maps. A composite key string, built per look-up
// (`[a, b, c].join('\u0000')`), costs its concatenation, its flattening and its hash every time,
// for strings that are new each record (callgrind: about 3,000 instructions a look-up for six
// parts, bench/instructions-bench.ts); each part here is looked up as it is, and a string's hash,
// once computed, stays with the string.

export class NestedMap<V> {
  readonly #root = new Map<unknown, unknown>();

  /** Every key is a tuple of `depth` values. */
  constructor(readonly depth: number) {}

  #check(keys: readonly unknown[]): void {
    if (keys.length !== this.depth)
      throw new RangeError(`a NestedMap of depth ${this.depth} was given a key of ${keys.length}`);
  }

  /** The value under these keys (compared as Map compares them: SameValueZero), if any. */
  get(keys: readonly unknown[]): V | undefined {
    this.#check(keys);
    let m = this.#root;
    const last = keys.length - 1;
    for (let i = 0; i < last; i++) {
      const next = m.get(keys[i]) as Map<unknown, unknown> | undefined;
      if (next === undefined) return undefined;
      m = next;
    }
    return m.get(keys[last]) as V | undefined;
  }

  set(keys: readonly unknown[], value: V): void {
    this.#check(keys);
    let m = this.#root;
    const last = keys.length - 1;
    for (let i = 0; i < last; i++) {
      let next = m.get(keys[i]) as Map<unknown, unknown> | undefined;
      if (next === undefined) {
        next = new Map();
        m.set(keys[i], next);
      }
      m = next;
    }
    m.set(keys[last], value);
  }
}
