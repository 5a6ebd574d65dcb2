// `entente keys list`: every key, or a page of them, read from the store a page at a time and
// written as it is read, so that listing 100,000 keys holds one page in memory, not all of them.
import type { Writable } from 'node:stream';
import { type ApiKeyRecord, keyPage, type Store } from '../store/index.js';

/** Keys read from the store per query. */
const READ_PAGE = 1_000;

export interface ListKeysOptions {
  /** At most this many keys; all of them when absent. */
  readonly limit?: number;
  /** Only keys whose id sorts after this one (the `next` a page printed). */
  readonly after?: string;
  readonly json: boolean;
  readonly nowMs: number;
}

function stateOf(k: ApiKeyRecord, nowMs: number): string {
  if (k.revokedAtMs) return `revoked ${new Date(k.revokedAtMs).toISOString()}`;
  if (k.expiresAtMs != null)
    return `${k.expiresAtMs <= nowMs ? 'expired' : 'active, expires'} ${new Date(k.expiresAtMs).toISOString()}`;
  return 'active';
}

// The hash is never printed in full: its first 8 hex digits identify it.
const jsonOf = ({ sha256, ...k }: ApiKeyRecord) => JSON.stringify({ ...k, sha256Prefix: sha256.slice(0, 8) });
const lineOf = (k: ApiKeyRecord, nowMs: number) =>
  `${k.id}\ttenant=${k.tenantId}\tmodels=${k.models.join(',')}\tsha256=${k.sha256.slice(0, 8)}…\t${stateOf(k, nowMs)}${k.limits ? `\tlimits=${JSON.stringify(k.limits)}` : ''}\n`;

/** Writes `text`, waiting for the stream to drain when its buffer is full. */
async function write(out: Writable, text: string): Promise<void> {
  if (!out.write(text)) await new Promise((resolve) => out.once('drain', resolve));
}

/**
 * Lists keys in id order to `out`: a line each, or (json) one JSON array. Returns the id to pass
 * as `after` for the next page when `limit` stopped it short of the last key, else null.
 */
export async function listKeys(store: Store, out: Writable, o: ListKeysOptions): Promise<string | null> {
  let left = o.limit ?? Number.POSITIVE_INFINITY;
  let next = o.after ?? null;
  let first = true;
  if (o.json) await write(out, '[');
  do {
    const page = await keyPage(store, Math.min(READ_PAGE, left), next);
    let text = '';
    for (const k of page.keys) {
      text += o.json ? `${first ? '\n  ' : ',\n  '}${jsonOf(k)}` : lineOf(k, o.nowMs);
      first = false;
    }
    if (text) await write(out, text);
    left -= page.keys.length;
    next = page.next;
  } while (next !== null && left > 0);
  if (o.json) await write(out, first ? ']\n' : '\n]\n');
  return next;
}
