// The store's read thread (read-thread.ts): its own connection to the SQLite file, answering the
// serving thread's heavy reads one after another, at a lower priority than serving.
import { parentPort, workerData } from 'node:worker_threads';
import { lowerThreadPriority } from '../../threads/index.js';
import { ANSWER_ROWS, type ReadAnswer, type ReadCall } from './read-thread.js';
import { SqliteStore } from './sqlite-store.js';

const { path, nice } = workerData as { path: string; nice: number };
const port = parentPort!;
// Where the priority cannot be lowered, the reads still run; only their share of a busy core differs.
lowerThreadPriority(nice);
const store = new SqliteStore(path);

/** Array answers being sent in parts, by call id: the rows, and where the next part starts. */
const sending = new Map<number, { readonly rows: readonly unknown[]; at: number }>();

/** The next part of an array answer from `at`, or its last with `value`. */
function send(id: number, rows: readonly unknown[], at: number): void {
  if (rows.length - at <= ANSWER_ROWS) {
    sending.delete(id);
    port.postMessage({ id, value: at === 0 ? rows : rows.slice(at) } satisfies ReadAnswer);
    return;
  }
  sending.set(id, { rows, at: at + ANSWER_ROWS });
  port.postMessage({ id, part: rows.slice(at, at + ANSWER_ROWS) } satisfies ReadAnswer);
}

port.on('message', (c: ReadCall) => {
  if ('next' in c) {
    const s = sending.get(c.id);
    if (s) send(c.id, s.rows, s.at);
    return;
  }
  const read = store[c.method] as (...args: readonly unknown[]) => Promise<unknown>;
  read.apply(store, [...c.args]).then(
    (value) =>
      Array.isArray(value)
        ? send(c.id, value, 0)
        : port.postMessage({ id: c.id, value } satisfies ReadAnswer),
    (err: Error & { code?: string }) =>
      port.postMessage({
        id: c.id,
        error: { message: err.message, ...(err.code ? { code: err.code } : {}) },
      } satisfies ReadAnswer),
  );
});
