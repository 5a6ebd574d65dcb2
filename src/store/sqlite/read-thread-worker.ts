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

/** The rest of array answers being sent in parts, by call id. */
const rest = new Map<number, unknown[]>();

/** The next part of an array answer, or its last with `value`. */
function send(id: number, rows: unknown[]): void {
  if (rows.length <= ANSWER_ROWS) {
    rest.delete(id);
    port.postMessage({ id, value: rows } satisfies ReadAnswer);
    return;
  }
  rest.set(id, rows.slice(ANSWER_ROWS));
  port.postMessage({ id, part: rows.slice(0, ANSWER_ROWS) } satisfies ReadAnswer);
}

port.on('message', (c: ReadCall) => {
  if ('next' in c) {
    const rows = rest.get(c.id);
    if (rows) send(c.id, rows);
    return;
  }
  const read = store[c.method] as (...args: readonly unknown[]) => Promise<unknown>;
  read.apply(store, [...c.args]).then(
    (value) =>
      Array.isArray(value) ? send(c.id, value) : port.postMessage({ id: c.id, value } satisfies ReadAnswer),
    (err: Error & { code?: string }) =>
      port.postMessage({
        id: c.id,
        error: { message: err.message, ...(err.code ? { code: err.code } : {}) },
      } satisfies ReadAnswer),
  );
});
