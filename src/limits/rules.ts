// Limit rules: what a platform team caps, on which scope. A rule matches the requests of one key,
// one tenant, one model, or a key × model (or tenant × model) pair, and caps any of requests per
// minute, tokens per minute, requests in flight and money per budget period. Rules come from the
// config (`limits.rules`) and from each key's own limits (set live through the admin API). Every
// rule is its own counter: a request is admitted only when every rule that matches it has room.
import {
  type BudgetPeriod,
  type KeyLimits,
  keyLimitsSchema,
  type LimitAmounts,
  type LimitsConfig,
} from '../config/index.js';
import { parseMajor } from '../ledger/index.js';

export type { BudgetPeriod, KeyLimits, LimitsConfig };

/** One counter: the rule's caps and the requests it counts. */
export interface LimitRule {
  /** The counter's id: `rule:<id>` for configured rules, `key:<key id>[:<model>]` for a key's own. */
  readonly id: string;
  readonly keyId: string | null;
  /**
   * A key's own limits count for its whole rotation lineage (`k`, `k.r2`, `k.r3`…): a rotated key
   * shares its predecessor's counters, so rotating never resets a budget.
   */
  readonly keyBase: string | null;
  readonly tenantId: string | null;
  readonly model: string | null;
  readonly rpm: number | null;
  readonly tpm: number | null;
  readonly concurrent: number | null;
  readonly budget: {
    readonly amountMicros: bigint;
    readonly period: BudgetPeriod;
    readonly alertAt: readonly number[];
  } | null;
}

function ruleOf(
  id: string,
  match: { keyId: string | null; keyBase: string | null; tenantId: string | null; model: string | null },
  a: LimitAmounts,
): LimitRule {
  const b = a.budget;
  return Object.freeze({
    id,
    ...match,
    rpm: a.requestsPerMinute ?? null,
    tpm: a.tokensPerMinute ?? null,
    concurrent: a.concurrentRequests ?? null,
    budget: b
      ? Object.freeze({ amountMicros: parseMajor(b.amount), period: b.period, alertAt: b.alertAt })
      : null,
  });
}

/** The id a key was first created with: rotations append `.rN`. */
export function keyBase(id: string): string {
  return id.replace(/\.r\d+$/, '');
}

export interface KeyWithLimits {
  readonly id: string;
  readonly limits?: unknown;
}

/** A key's own limits, parsed; a malformed stored value is skipped with its problem reported. */
export function keyRules(key: KeyWithLimits, onProblem?: (message: string) => void): LimitRule[] {
  if (key.limits === undefined || key.limits === null) return [];
  const parsed = keyLimitsSchema.safeParse(key.limits);
  if (!parsed.success) {
    onProblem?.(`key ${key.id}: ${parsed.error.issues[0]?.message ?? 'invalid limits'}`);
    return [];
  }
  const out: LimitRule[] = [];
  const { models, ...own } = parsed.data;
  const base = keyBase(key.id);
  if (
    own.requestsPerMinute !== undefined ||
    own.tokensPerMinute !== undefined ||
    own.concurrentRequests !== undefined ||
    own.budget !== undefined
  )
    out.push(ruleOf(`key:${base}`, { keyId: key.id, keyBase: base, tenantId: null, model: null }, own));
  for (const [model, a] of Object.entries(models ?? {}))
    out.push(ruleOf(`key:${base}:${model}`, { keyId: key.id, keyBase: base, tenantId: null, model }, a));
  return out;
}

const CACHE_LIMIT = 10_000;

/** Appends `value` to the list `m` keeps under `k` (the indexes of rules and of spend rows). */
export function pushTo<V>(m: Map<string, V[]>, k: string, value: V): void {
  const list = m.get(k);
  if (list) list.push(value);
  else m.set(k, [value]);
}

/** The config's rules, in its order. */
function configRules(config: LimitsConfig | undefined): LimitRule[] {
  return (config?.rules ?? []).map((r) =>
    ruleOf(
      `rule:${r.id}`,
      {
        keyId: r.scope.key ?? null,
        keyBase: null,
        tenantId: r.scope.tenant ?? null,
        model: r.scope.model ?? null,
      },
      r,
    ),
  );
}

/**
 * The rules in force, with the matching ones per (key, tenant, model) remembered: the lookup on
 * the hot path is one map read once a caller has been seen. A caller not seen yet is matched
 * against the rules of no key and the rules of its own key only, not every key's: with 100,000
 * keys with limits, a scan of every rule took 0.74 ms a request, and more callers than the cache
 * holds would pay it on every request.
 *
 * The rules are the listed ones (the config's), then each key's own, kept by key so that a change
 * to a few keys parses only their limits (`applyKeys`), not every key's again.
 */
export class LimitSet {
  readonly #listed: readonly LimitRule[];
  /** Each key's own rules, by key id (keys without limits are absent). */
  readonly #own: Map<string, readonly LimitRule[]>;
  readonly #cache = new Map<string, readonly LimitRule[]>();
  /** The listed rules that name no key, and those that name one, by key, each in listed order. */
  readonly #anyKey: LimitRule[] = [];
  readonly #listedByKey = new Map<string, LimitRule[]>();
  /** Each listed rule's place: a caller's matches keep that order. */
  readonly #place = new Map<LimitRule, number>();
  #all: readonly LimitRule[] | null = null;
  #byId: readonly LimitRule[] | null = null;

  constructor(listed: readonly LimitRule[], own: Map<string, readonly LimitRule[]> = new Map()) {
    this.#listed = listed;
    this.#own = own;
    listed.forEach((r, i) => {
      this.#place.set(r, i);
      if (r.keyId === null) this.#anyKey.push(r);
      else pushTo(this.#listedByKey, r.keyId, r);
    });
  }

  static from(
    config: LimitsConfig | undefined,
    keys: readonly KeyWithLimits[],
    onProblem?: (m: string) => void,
  ): LimitSet {
    const own = new Map<string, readonly LimitRule[]>();
    for (const k of keys) {
      const rules = keyRules(k, onProblem);
      if (rules.length > 0) own.set(k.id, rules);
    }
    return new LimitSet(configRules(config), own);
  }

  /**
   * Puts the own limits of `changed` keys as those keys are now, and drops those of `removed`
   * keys: only the changed keys' limits are parsed, and only their callers' matches forgotten. In
   * place: a copy of the rules of 100,000 keys took 30–50 ms, longer than the change itself.
   */
  applyKeys(
    changed: readonly KeyWithLimits[],
    removed: readonly string[],
    onProblem?: (m: string) => void,
  ): void {
    const touched = new Set(removed);
    for (const id of removed) this.#own.delete(id);
    for (const k of changed) {
      touched.add(k.id);
      const rules = keyRules(k, onProblem);
      if (rules.length > 0) this.#own.set(k.id, rules);
      else this.#own.delete(k.id);
    }
    this.#all = null;
    this.#byId = null;
    for (const k of this.#cache.keys())
      if (touched.has(k.slice(0, k.indexOf('\u0000')))) this.#cache.delete(k);
  }

  /** Every rule: the listed ones, then each key's own. Built when first asked (a reconcile, a listing). */
  get rules(): readonly LimitRule[] {
    this.#all ??= [...this.#listed, ...[...this.#own.values()].flat()];
    return this.#all;
  }

  get empty(): boolean {
    return this.#listed.length === 0 && this.#own.size === 0;
  }

  /**
   * Every rule once (a key and its rotations share their rules' ids: one of them stands), in id
   * order: what a listing pages through. Sorted when first asked after a change.
   */
  get byId(): readonly LimitRule[] {
    if (!this.#byId) {
      const sorted = [...this.rules].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      this.#byId = sorted.filter((r, i) => i === 0 || sorted[i - 1]!.id !== r.id);
    }
    return this.#byId;
  }

  /** The rules that name this key: the listed ones, then its own (an index read, not a scan). */
  rulesOfKey(keyId: string): readonly LimitRule[] {
    return [...(this.#listedByKey.get(keyId) ?? []), ...(this.#own.get(keyId) ?? [])];
  }

  /** Every rule that counts a request of this key and tenant for this model. */
  matching(keyId: string, tenantId: string, model: string): readonly LimitRule[] {
    if (this.empty) return [];
    const k = `${keyId}\u0000${tenantId}\u0000${model}`;
    let hit = this.#cache.get(k);
    if (hit) return hit;
    const applies = (r: LimitRule) =>
      (r.tenantId === null || r.tenantId === tenantId) && (r.model === null || r.model === model);
    const general = this.#anyKey.filter(applies);
    const named = (this.#listedByKey.get(keyId) ?? []).filter(applies);
    const own = (this.#own.get(keyId) ?? []).filter(applies);
    hit =
      named.length === 0
        ? general
        : [...general, ...named].sort((a, b) => this.#place.get(a)! - this.#place.get(b)!);
    if (own.length > 0) hit = [...hit, ...own];
    if (this.#cache.size >= CACHE_LIMIT) this.#cache.clear();
    this.#cache.set(k, hit);
    return hit;
  }
}

/** The budget period that holds `atMs`: its key suffix and its end (when the budget resets). */
export interface Period {
  readonly id: string;
  readonly startMs: number;
  readonly endMs: number;
}

const lastPeriod = new WeakMap<object, Period>();

/** periodAt for a rule's budget, remembered until the period ends (the hot path's way). */
export function budgetPeriodOf(rule: LimitRule, atMs: number): Period {
  const b = rule.budget!;
  const hit = lastPeriod.get(b);
  if (hit && atMs >= hit.startMs && atMs < hit.endMs) return hit;
  const p = periodAt(b.period, atMs);
  lastPeriod.set(b, p);
  return p;
}

export function periodAt(period: BudgetPeriod, atMs: number): Period {
  const d = new Date(atMs);
  if (period === 'day') {
    const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
    return { id: new Date(start).toISOString().slice(0, 10), startMs: start, endMs: start + 86_400_000 };
  }
  if (period === 'month') {
    const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
    return {
      id: new Date(start).toISOString().slice(0, 7),
      startMs: start,
      endMs: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1),
    };
  }
  const from = Date.parse(`${period.from}T00:00:00Z`);
  const len = period.days * 86_400_000;
  const n = Math.floor((atMs - from) / len);
  const start = from + n * len;
  return { id: new Date(start).toISOString().slice(0, 10), startMs: start, endMs: start + len };
}
