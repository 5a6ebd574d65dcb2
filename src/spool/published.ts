// Where the serving thread's spool writes stand, in memory both threads share: the segment being
// written, its length, and the number of its last record. The serving thread publishes after each
// append (a few stores, no message: a postMessage per event-loop turn cost about 7% of the serving
// thread's time at saturation); the writer thread reads it at each group commit and whenever a
// message asks it to catch up. A sequence lock keeps the three figures consistent: the writer
// never pairs one segment's length with another's record number.
const GEN = 0;
const INDEX = 0;
const BYTES = 1;
const SEQ = 2;

export interface SpoolPosition {
  /** Index of the segment being written (its file is segmentName(index)). */
  readonly index: number;
  readonly bytes: number;
  /** Record number of the segment's last complete line. */
  readonly seq: number;
}

export class PublishedPosition {
  readonly buffer: SharedArrayBuffer;
  readonly #gen: Int32Array;
  readonly #fields: Float64Array;

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(32)) {
    this.buffer = buffer;
    this.#gen = new Int32Array(buffer, 0, 2);
    this.#fields = new Float64Array(buffer, 8, 3);
  }

  /** Serving thread only (one writer). */
  publish(index: number, bytes: number, seq: number): void {
    Atomics.add(this.#gen, GEN, 1);
    this.#fields[INDEX] = index;
    this.#fields[BYTES] = bytes;
    this.#fields[SEQ] = seq;
    Atomics.add(this.#gen, GEN, 1);
  }

  /**
   * A consistent reading, or null when the writer was mid-publication at every try (it can be
   * preempted there; spinning on a shared core would only delay it). The caller reads again later.
   */
  read(tries = 8): SpoolPosition | null {
    for (let i = 0; i < tries; i++) {
      const g = Atomics.load(this.#gen, GEN);
      if ((g & 1) === 1) continue;
      const index = this.#fields[INDEX]!;
      const bytes = this.#fields[BYTES]!;
      const seq = this.#fields[SEQ]!;
      if (Atomics.load(this.#gen, GEN) === g) return { index, bytes, seq };
    }
    return null;
  }
}
