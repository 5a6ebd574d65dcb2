// The messages between the serving thread and the spool writer thread.
import type { LedgerSetup } from '../ledger/index.js';
import type { StoreLocation } from '../store/index.js';

export interface WorkerInit {
  readonly dir: string;
  readonly location: StoreLocation;
  readonly setup: LedgerSetup | null;
  readonly batchSize: number;
  readonly flushIntervalMs: number;
  readonly fsyncIntervalMs: number;
  /**
   * Whether the serving thread waits for group commits (durability `os`): only then is each one
   * reported (`fsynced`). Otherwise the report, up to 200 a second, would wake the serving
   * thread's event loop for nothing.
   */
  readonly reportFsynced: boolean;
  /** The writer thread's nice value (0: left as the process's). */
  readonly nice: number;
  /** How often records pending in the store (failed posts, other nodes' records) are posted. */
  readonly scanIntervalMs: number;
  /** The serving thread's published spool position (published.ts). */
  readonly position: SharedArrayBuffer;
}

export type ToWorker =
  /** No more lines will be written to the segment: it ends at `bytes`, its last line is record `seq`. */
  | { readonly type: 'sealed'; readonly index: number; readonly bytes: number; readonly seq: number }
  | { readonly type: 'setup'; readonly setup: LedgerSetup | null }
  /**
   * Answer `flushed` once every record up to `seq` is stored and, unless its posting failed (it is
   * then pending), posted; with `posted`, once what failed to post has been posted too.
   */
  | { readonly type: 'flush'; readonly id: number; readonly seq: number; readonly posted: boolean }
  | { readonly type: 'close'; readonly seq: number };

export type FromWorker =
  | {
      readonly type: 'ready';
      readonly nextIndex: number;
      /** Lines read back from the spool an earlier process left. */
      readonly recovered: number;
      /** Of those, records the database did not have yet (the earlier process died before storing them). */
      readonly added: number;
      readonly corrupt: number;
    }
  | { readonly type: 'fsynced'; readonly seq: number }
  | { readonly type: 'stored'; readonly seq: number; readonly stored: number; readonly posted: number }
  | { readonly type: 'flushed'; readonly id: number }
  | { readonly type: 'error'; readonly message: string }
  | { readonly type: 'warn'; readonly message: string; readonly count: number }
  | { readonly type: 'closed' };
