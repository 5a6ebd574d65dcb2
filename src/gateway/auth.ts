// API keys → tenant. Keys are stored only as SHA-256 digests (keys are long random strings, so a
// fast digest is the right tool, as for GitHub's and Stripe's tokens); a lookup is one digest and
// one map read. The key ring is rebuilt from the store, so revocations and new keys take effect
// without a restart.
import { hashKey } from '../http/index.js';

export { generateKey } from '../http/index.js';

import type { ApiKeyRecord } from '../store/index.js';

export interface Caller {
  readonly keyId: string;
  readonly tenantId: string;
  /** null = every model. */
  readonly models: ReadonlySet<string> | null;
  /** The key stops working at this instant (null: no expiry). */
  readonly expiresAtMs: number | null;
}

/** Keys seen recently → caller, so a busy key is hashed once, not per request. Bounded. */
const CACHE_LIMIT = 10_000;

export class KeyRing {
  #byHash = new Map<string, Caller>();
  /** Each active key's digest: where a changed key's old entry is. */
  #hashOf = new Map<string, string>();
  #recent = new Map<string, Caller>();

  constructor(keys: readonly ApiKeyRecord[] = []) {
    this.replace(keys);
  }

  /** Every key, from scratch. */
  replace(keys: readonly ApiKeyRecord[]): void {
    this.#byHash = new Map();
    this.#hashOf = new Map();
    this.#recent = new Map();
    for (const k of keys) this.#add(k);
  }

  /**
   * The keys changed since the ring was built, as they are now, and the ids of keys removed: the
   * rest of the ring, and the callers it remembers of untouched keys, stay as they are.
   */
  update(changed: readonly ApiKeyRecord[], removed: readonly string[]): void {
    const touched = new Set([...removed, ...changed.map((k) => k.id)]);
    for (const id of touched) {
      const hash = this.#hashOf.get(id);
      if (hash !== undefined) this.#byHash.delete(hash);
      this.#hashOf.delete(id);
    }
    for (const k of changed) this.#add(k);
    for (const [key, caller] of this.#recent) if (touched.has(caller.keyId)) this.#recent.delete(key);
  }

  #add(k: ApiKeyRecord): void {
    if (k.revokedAtMs !== null) return;
    this.#hashOf.set(k.id, k.sha256);
    this.#byHash.set(
      k.sha256,
      Object.freeze({
        keyId: k.id,
        tenantId: k.tenantId,
        models: k.models.includes('*') ? null : new Set(k.models),
        expiresAtMs: k.expiresAtMs ?? null,
      }),
    );
  }

  get size(): number {
    return this.#byHash.size;
  }

  /** The caller behind a key at `nowMs`: an expired key (a rotation's grace over) is refused at once. */
  lookup(key: string, nowMs: number): Caller | null {
    // Bound the work an attacker can make us do before hashing.
    if (key.length > 512) return null;
    const hit = this.#recent.get(key);
    if (hit) return hit.expiresAtMs !== null && nowMs >= hit.expiresAtMs ? null : hit;
    const caller = this.#byHash.get(hashKey(key)) ?? null;
    if (caller && caller.expiresAtMs !== null && nowMs >= caller.expiresAtMs) return null;
    // Only known keys are remembered: random keys from an attacker cannot grow the cache.
    if (caller) {
      if (this.#recent.size >= CACHE_LIMIT) this.#recent.clear();
      this.#recent.set(key, caller);
    }
    return caller;
  }
}

export function mayCall(caller: Caller, model: string): boolean {
  return caller.models === null || caller.models.has(model);
}
