// The store's read thread (read-thread.ts): its own connection to the SQLite file, answering the
// serving thread's heavy reads one after another, at a lower priority than serving.
import { parentPort, workerData } from 'node:worker_threads';
import { lowerThreadPriority } from '../../threads/index.js';
import type { ReadAnswer, ReadCall } from './read-thread.js';
import { SqliteStore } from './sqlite-store.js';

const { path, nice } = workerData as { path: string; nice: number };
const port = parentPort!;
// Where the priority cannot be lowered, the reads still run; only their share of a busy core differs.
lowerThreadPriority(nice);
const store = new SqliteStore(path);

port.on('message', (c: ReadCall) => {
  const read = store[c.method] as (...args: readonly unknown[]) => Promise<unknown>;
  read.apply(store, [...c.args]).then(
    (value) => port.postMessage({ id: c.id, value } satisfies ReadAnswer),
    (err: Error & { code?: string }) =>
      port.postMessage({
        id: c.id,
        error: { message: err.message, ...(err.code ? { code: err.code } : {}) },
      } satisfies ReadAnswer),
  );
});
