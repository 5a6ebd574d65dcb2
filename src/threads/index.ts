// Threads of the gateway's own that do background work (the spool writer, the store's reader)
// lower their own priority, so that the serving thread goes first when they contend for a core.
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/**
 * Sets the calling thread's nice value (0–19). On Linux a nice value belongs to each thread:
 * os.setPriority with this thread's id (from /proc/thread-self) leaves the process's other
 * threads as they are. Returns why it could not, or null; 0 changes nothing.
 */
export function lowerThreadPriority(nice: number): string | null {
  if (nice === 0) return null;
  try {
    if (process.platform !== 'linux') return `per-thread priorities are not set on ${process.platform}`;
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return '/proc/thread-self names no thread';
    setPriority(tid, nice);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}
