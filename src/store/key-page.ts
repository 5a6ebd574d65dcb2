// One page of API keys in id order, and the `after` of the next page: what the admin API's listing
// and `entente keys list` page through. One key more than asked says whether a next page exists.
import type { ApiKeyRecord, Store } from './types.js';

export async function keyPage(
  store: Store,
  limit: number,
  after: string | null = null,
): Promise<{ readonly keys: readonly ApiKeyRecord[]; readonly next: string | null }> {
  const read = await store.listApiKeys({ limit: limit + 1, ...(after === null ? {} : { after }) });
  const keys = read.slice(0, limit);
  return { keys, next: read.length > limit ? keys.at(-1)!.id : null };
}
