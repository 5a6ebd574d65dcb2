// The heavy reads of the embedded SQLite store, on a thread of their own. better-sqlite3 runs a
// query on the thread that calls it: on the serving thread, a month of spend (1,000,000 per-minute
// rows took 1.5–1.7 s, and the budget reconcile reads it every minute), a 30-day traffic series or
// a ledger statement would hold up every request meanwhile. Through this thread the serving thread
// posts the call and goes on serving. The read thread has its own connection to the same file: in
// WAL mode readers never block the writer, nor it them, and every committed write is visible.
import { Worker } from 'node:worker_threads';
import type { Store } from '../types.js';

/** The reads that go to the read thread: those whose cost grows with the data. */
export type OffThreadRead =
  | 'spendByScope'
  | 'spendSummary'
  | 'trafficSeries'
  | 'ledgerRows'
  | 'countUsage'
  | 'listUsage';

/**
 * Rows an answer carries per message. A message is decoded on the receiving thread in one go: a
 * month of spend for 100,000 keys held the serving thread for 114 ms as one message; in parts, each
 * sent once the one before is taken, the thread serves between them.
 */
export const ANSWER_ROWS = 5_000;

/** A call to the read thread; or, from the serving side, "send the next part of answer `id`". */
export type ReadCall =
  | { readonly id: number; readonly method: OffThreadRead; readonly args: readonly unknown[] }
  | { readonly id: number; readonly next: true };

export type ReadAnswer =
  | { readonly id: number; readonly value: unknown }
  /** ANSWER_ROWS rows of an array answer, more to come once asked for (`next`). */
  | { readonly id: number; readonly part: readonly unknown[] }
  | { readonly id: number; readonly error: { readonly message: string; readonly code?: string } };

interface Waiting {
  resolve(value: unknown): void;
  reject(err: Error): void;
  /** The parts of an array answer received so far. */
  parts?: unknown[][];
}

/**
 * The main side: started at the first call, its answers matched to calls by id. An idle thread
 * keeps no process alive; one that dies fails the calls it had, and the next call starts another.
 */
export class ReadThread {
  #worker: Worker | null = null;
  #next = 1;
  readonly #waiting = new Map<number, Waiting>();

  constructor(
    readonly path: string,
    /** The thread's nice value (src/threads): reads for the admin API come after serving. */
    readonly nice: number,
  ) {}

  call<M extends OffThreadRead>(method: M, args: Parameters<Store[M]>): ReturnType<Store[M]> {
    const worker = this.#worker ?? this.#start();
    const id = this.#next++;
    if (this.#waiting.size === 0) worker.ref();
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      worker.postMessage({ id, method, args } satisfies ReadCall);
    }) as ReturnType<Store[M]>;
  }

  #start(): Worker {
    const worker = new Worker(new URL('./read-thread-worker.js', import.meta.url), {
      workerData: { path: this.path, nice: this.nice },
    });
    worker.on('message', (m: ReadAnswer) => {
      const w = this.#waiting.get(m.id);
      if (!w) return;
      if ('part' in m) {
        w.parts ??= [];
        w.parts.push(m.part as unknown[]);
        // Asked for from a later turn, so that requests waiting now are served first.
        setImmediate(() => worker.postMessage({ id: m.id, next: true } satisfies ReadCall));
        return;
      }
      this.#waiting.delete(m.id);
      if (this.#waiting.size === 0) worker.unref();
      if ('error' in m) w.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
      else w.resolve(w.parts ? w.parts.flat().concat(m.value as unknown[]) : m.value);
    });
    const fail = (err: Error) => {
      if (this.#worker === worker) this.#worker = null;
      for (const w of this.#waiting.values()) w.reject(err);
      this.#waiting.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the store's read thread exited with code ${code}`)));
    this.#worker = worker;
    return worker;
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = null;
    if (worker) await worker.terminate();
  }
}
