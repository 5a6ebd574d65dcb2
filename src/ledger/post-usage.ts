// Usage records → the ledger: price each record by the book in force at its effective date, find
// the revenue-share segments that cover it (scope, carve-outs and revenue base, under the version
// in force then), and post it all in one store transaction. With `storeRecords` the records
// themselves are stored in that same transaction (the spool writer's path): one unit of work
// stores, prices and posts a batch.

import {
  type Agreement,
  type AgreementVersion,
  baseMatches,
  type Declaration,
  exemptionFor,
  inScope,
  type RevenueShare,
  type Surface,
  versionAsOf,
} from '../agreements/index.js';
import { NestedMap } from '../collections/index.js';
import type { Config } from '../config/index.js';
import {
  isRowPayload,
  type PostLedgerOptions,
  type RecordsPlan,
  type Store,
  USAGE_CONFLICT,
  USAGE_POSTED,
  USAGE_UNPRICED,
  type UsageRecord,
} from '../store/index.js';
import type { CapacityCharge } from './capacity-charges.js';
import { parseMajor } from './money.js';
import {
  carryKey,
  type LedgerTx,
  type PostingInput,
  planPostings,
  revenuePayload,
  rowPayload,
  type ShareTerm,
} from './plan-postings.js';
import { type PriceBooks, priceOf, revenuePicoOf } from './price-book.js';

export interface LedgerSetup {
  readonly priceBooks: PriceBooks;
  readonly agreement: Agreement | null;
  /** The default seller: the party whose revenue a tenant's usage is when the tenant names none. */
  readonly owner: string;
  /** Tenant id → the party it buys from (its revenue's seller). */
  readonly sellers?: Readonly<Record<string, string>>;
  /** Model name → its owner (the catalog's ownedBy), for scope, carve-outs and revenue bases. */
  readonly owners?: Readonly<Record<string, string>>;
  /** Declarations entered so far (an AGI declaration ends milestone-dependent shares). */
  readonly declarations?: readonly Declaration[];
  /** Fixed-cost capacity pools, each month of whose term is posted as a charge. */
  readonly capacity?: readonly CapacityCharge[];
}

export interface PostResult {
  posted: number;
  duplicate: number;
  conflict: number;
  unpriced: number;
}

/** The ledger's view of a configuration: who sells to each tenant, who owns each model. */
export function ledgerSetupFor(
  config: Config,
  priceBooks: PriceBooks,
  agreement: Agreement | null,
  declarations: readonly Declaration[],
): LedgerSetup {
  return {
    priceBooks,
    agreement,
    owner: config.ledger?.owner ?? 'operator',
    sellers: Object.fromEntries(config.tenants.flatMap((t) => (t.seller ? [[t.id, t.seller]] : []))),
    owners: Object.fromEntries(config.models.map((m) => [m.name, m.ownedBy])),
    declarations,
    capacity: (config.capacity?.pools ?? []).map((p) => ({
      poolId: p.id,
      fromMs: Date.parse(p.term.from),
      toMs: p.term.to === undefined ? null : Date.parse(p.term.to),
      fixedMicrosPerMonth: parseMajor(p.cost.fixedPerMonth),
    })),
  };
}

export function sellerOf(setup: LedgerSetup, tenantId: string): string {
  return setup.sellers?.[tenantId] ?? setup.owner;
}

/** The segment keys of every share id, across the versions that state it. */
const segmentsCache = new WeakMap<Agreement, Map<string, string[]>>();
function segmentsOf(a: Agreement, shareId: string): readonly string[] {
  let m = segmentsCache.get(a);
  if (!m) {
    m = new Map();
    for (const v of a.versions)
      for (const r of v.terms.revenueShares) {
        const list = m.get(r.id) ?? [];
        list.push(`${a.id}/${r.id}@${v.id}`);
        m.set(r.id, list);
      }
    segmentsCache.set(a, m);
  }
  return m.get(shareId) ?? [];
}

/** Whether an AGI declaration entered at or before `atMs` ends a milestone-dependent share. */
function endedByMilestone(setup: LedgerSetup, atMs: number): boolean {
  return (setup.declarations ?? []).some((d) => d.kind === 'agi-verified' && d.atMs <= atMs);
}

interface Candidate {
  readonly share: RevenueShare;
  readonly term: ShareTerm;
}

/**
 * The shares of a version that a sale could accrue to, before time (term, milestones): scope,
 * carve-outs, currency and revenue base depend only on the version and the sale's facts, so they
 * are decided once per distinct (version, model, tenant, cloud, surface) and cached per setup.
 */
interface Candidates {
  readonly list: readonly Candidate[];
  /** Each candidate's term, in order: the answer when every one applies. */
  readonly terms: readonly ShareTerm[];
}

const candidatesCache = new WeakMap<LedgerSetup, NestedMap<Candidates>>();
function candidates(
  setup: LedgerSetup,
  a: Agreement,
  v: AgreementVersion,
  u: UsageRecord,
  currency: string,
): Candidates {
  const surface = (u.surface ?? 'chat') as Surface;
  // A batch's records mostly share these facts: the one before's answer, compared field by
  // field, spares building the cache key (a string per record).
  const l = last;
  if (
    l !== null &&
    l.setup === setup &&
    l.v === v &&
    l.model === u.model &&
    l.tenantId === u.tenantId &&
    l.cloud === u.cloud &&
    l.surface === surface &&
    l.currency === currency
  )
    return l.found;
  let cache = candidatesCache.get(setup);
  if (!cache) {
    cache = new NestedMap(6);
    candidatesCache.set(setup, cache);
  }
  // Each part looked up as it is (NestedMap), not joined into a key string per record.
  const key = [v, u.model, u.tenantId, u.cloud ?? '', surface, currency];
  let hit = cache.get(key);
  if (!hit) {
    hit = compute(setup, a, v, u, currency, surface);
    cache.set(key, hit);
  }
  last = { setup, v, model: u.model, tenantId: u.tenantId, cloud: u.cloud, surface, currency, found: hit };
  return hit;
}

let last: {
  readonly setup: LedgerSetup;
  readonly v: AgreementVersion;
  readonly model: string;
  readonly tenantId: string;
  readonly cloud: string | null;
  readonly surface: Surface;
  readonly currency: string;
  readonly found: Candidates;
} | null = null;

function compute(
  setup: LedgerSetup,
  a: Agreement,
  v: AgreementVersion,
  u: UsageRecord,
  currency: string,
  surface: Surface,
): Candidates {
  const model = { name: u.model, ownedBy: setup.owners?.[u.model] ?? '' };
  let out: Candidate[] = [];
  if (inScope(a, v, model) && !exemptionFor(v, model, u.tenantId, 'revenue-share')) {
    const sale = {
      seller: sellerOf(setup, u.tenantId),
      tenantId: u.tenantId,
      model: u.model,
      ownedBy: model.ownedBy,
      cloud: u.cloud,
      surface,
    };
    out = v.terms.revenueShares
      .filter((r) => (!r.cap || r.cap.currency === currency) && baseMatches(r.revenueBase, sale))
      .map((r) => ({
        share: r,
        term: {
          id: `${a.id}/${r.id}@${v.id}`,
          share: `${a.id}/${r.id}`,
          segments: segmentsOf(a, r.id),
          payer: r.payer,
          payee: r.payee,
          num: r.rate.num,
          den: r.rate.den,
          capMicros: r.cap?.amount ?? null,
        },
      }));
  }
  return { list: out, terms: out.map((c) => c.term) };
}

/**
 * The revenue-share segments that cover one usage record: under the version in force at its
 * effective time, each share whose term covers it, whose revenue base matches the sale, for a
 * model in the agreement's scope and not carved out of the revenue share.
 */
export function shareTermsFor(setup: LedgerSetup, u: UsageRecord, currency: string): readonly ShareTerm[] {
  const a = setup.agreement;
  const atMs = u.startedAtMs;
  const v: AgreementVersion | null = a ? versionAsOf(a, atMs) : null;
  if (!a || !v || v.terms.revenueShares.length === 0) return NO_TERMS;
  const found = candidates(setup, a, v, u, currency);
  let out: ShareTerm[] | null = null;
  for (let i = 0; i < found.list.length; i++) {
    const r = found.list[i]!.share;
    const applies =
      r.term.from <= atMs &&
      atMs < (r.term.to ?? Number.POSITIVE_INFINITY) &&
      (r.milestoneIndependent || !endedByMilestone(setup, atMs));
    // The usual case, every candidate in its term: the cached list, not a new one per record.
    if (applies && out === null) continue;
    if (out === null) out = found.terms.slice(0, i);
    if (applies) out.push(found.list[i]!.term);
  }
  return out ?? found.terms;
}

const NO_TERMS: readonly ShareTerm[] = [];

/**
 * A batch priced and matched to its revenue-share segments, with each revenue transaction's
 * identity computed: everything about posting it that needs no database. Pure CPU, so a pipeline
 * can do it for the next batch while the database writes this one (postUsageBatches).
 */
export interface PreparedUsage {
  readonly records: readonly UsageRecord[];
  readonly inputs: readonly PostingInput[];
  readonly unpriced: readonly string[];
  readonly txIds: readonly string[];
  /** Every state the plan reads, to lock: the shares' segments and the tenants' carries. */
  readonly termIds: readonly string[];
  readonly storeRecords: boolean;
  /** Payloads are rows' (rowPayload): for a store that presumes stored records new. */
  readonly rowPayloads: boolean;
  /** For each record, the index of its input, or -1 (unpriced: no input). */
  readonly inputOf: Int32Array;
}

export function prepareUsage(
  records: readonly UsageRecord[],
  setup: LedgerSetup,
  opts: { readonly storeRecords?: boolean; readonly rowPayloads?: boolean } = {},
): PreparedUsage {
  const inputs: PostingInput[] = [];
  const txIds: string[] = [];
  const unpriced: string[] = [];
  const currency = setup.priceBooks.currency;
  const carries = new Map<string, string>();
  // Records stored in the unit of work that posts them, by a store that presumes them new, keep
  // their revenue in their rows: the row's payload leaves their fields out (a store refuses to
  // keep it anywhere else, and commitUsage makes it whole if the store did not presume).
  const rowsKeep = opts.storeRecords === true && opts.rowPayloads === true;
  const inputOf = new Int32Array(records.length).fill(-1);
  for (let r = 0; r < records.length; r++) {
    const u = records[r]!;
    const price = priceOf(setup.priceBooks, u.model, u.modelVersion, u.startedAtMs);
    const billable = u.tokensInputUncached + u.tokensInputCached + u.tokensOutput + u.tokensReasoning > 0;
    if (!price && billable) {
      unpriced.push(u.requestId);
      continue;
    }
    inputOf[r] = inputs.length;
    const seller = sellerOf(setup, u.tenantId);
    // One carry key string per tenant and batch, not one per record.
    let carry = carries.get(u.tenantId);
    if (carry === undefined) {
      carry = carryKey(u.tenantId, seller, currency);
      carries.set(u.tenantId, carry);
    }
    const revenuePico = price ? revenuePicoOf(price.entry, u) : 0n;
    const txId = `revenue:${u.requestId}`;
    const priced = { usage: u, revenuePico, currency, seller };
    txIds.push(txId);
    inputs.push({
      usage: u,
      revenuePico,
      currency,
      seller,
      terms: shareTermsFor(setup, u, currency),
      carryKey: carry,
      payloadHash: rowsKeep ? rowPayload(priced) : revenuePayload(priced),
      txId,
    });
  }
  // Loops, not flatMaps: this runs once per record.
  const termIds = new Set<string>();
  for (const carry of carries.values()) termIds.add(carry);
  for (const i of inputs) for (const t of i.terms) for (const k of t.segments) termIds.add(k);
  return {
    records,
    inputs,
    unpriced,
    txIds,
    termIds: [...termIds],
    storeRecords: opts.storeRecords === true,
    rowPayloads: rowsKeep,
    inputOf,
  };
}

const NO_STATUS: ReadonlyMap<string, number> = new Map();

/**
 * The inputs with whole payloads: for a unit of work whose records may be stored already (a
 * retry, a recovered spool), where a revenue may go into a row that holds another record's fields.
 */
function wholePayloads(inputs: readonly PostingInput[]): PostingInput[] {
  return inputs.map((i) =>
    i.payloadHash && isRowPayload(i.payloadHash) ? { ...i, payloadHash: revenuePayload(i) } : i,
  );
}

/**
 * A plan by record: each record's revenue transaction and status, by its index in the batch. A
 * record repeated in the batch gets no revenue (its first occurrence has it); its status is its
 * own outcome's, which marks nothing (the first occurrence's row is stored, no longer pending).
 */
function byRecord(prepared: PreparedUsage, plan: ReturnType<typeof planPostings>): RecordsPlan {
  const n = prepared.records.length;
  const revenue = new Array<LedgerTx | undefined>(n);
  const status = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const k = prepared.inputOf[i]!;
    if (k < 0) {
      status[i] = USAGE_UNPRICED;
      continue;
    }
    status[i] = plan.outcomes[k] === 'conflict' ? USAGE_CONFLICT : USAGE_POSTED;
    revenue[i] = plan.revenue[k];
  }
  const others: LedgerTx[] = [];
  for (const tx of plan.txs) if (tx.code !== 'revenue') others.push(tx);
  return { revenue, status, others };
}

/** Posts a prepared batch in one unit of work (with its records, when it stores them). */
export async function commitUsage(
  store: Store,
  prepared: PreparedUsage,
  opts: PostLedgerOptions = {},
): Promise<PostResult> {
  const result: PostResult = { posted: 0, duplicate: 0, conflict: 0, unpriced: 0 };
  const { inputs, unpriced } = prepared;
  await store.postLedger(
    prepared.txIds,
    prepared.termIds,
    (view) => {
      // A row's payload leaves out the row's fields: only for records inserted here as they are.
      const own = prepared.rowPayloads && !view.presumedNew ? wholePayloads(inputs) : inputs;
      const plan = planPostings(own, view.existing, view.states, view.closed, {
        fresh: prepared.storeRecords && view.presumedNew === true && view.existing.size === 0,
      });
      // Tallied from the final plan, so a retried unit of work does not count twice.
      result.posted = result.duplicate = result.conflict = 0;
      for (const o of plan.outcomes) result[o]++;
      // Records stored in this unit: the plan by record, by index (no map by request id).
      if (prepared.storeRecords)
        return {
          txs: plan.txs,
          states: plan.states,
          usageStatus: NO_STATUS,
          records: byRecord(prepared, plan),
        };
      const usageStatus = new Map<string, number>();
      plan.outcomes.forEach((o, i) => {
        const rid = inputs[i]!.usage.requestId;
        // A conflict (the same id with another payload) is refused; only a still-pending stored
        // record is marked, so one posted under that id first keeps its status.
        if (o !== 'conflict') usageStatus.set(rid, USAGE_POSTED);
        else if (!usageStatus.has(rid)) usageStatus.set(rid, USAGE_CONFLICT);
      });
      for (const rid of unpriced) usageStatus.set(rid, USAGE_UNPRICED);
      return { txs: plan.txs, states: plan.states, usageStatus };
    },
    [],
    prepared.storeRecords ? prepared.records : [],
    opts,
  );
  result.unpriced = unpriced.length;
  return result;
}

export async function postUsage(
  store: Store,
  records: readonly UsageRecord[],
  setup: LedgerSetup,
  opts: { readonly storeRecords?: boolean } = {},
): Promise<PostResult> {
  return commitUsage(
    store,
    prepareUsage(records, setup, { ...opts, rowPayloads: store.presumesNew === true }),
  );
}

/**
 * Posts batches one after another, each in its own unit of work and in their order, as postUsage
 * would, but prepares each next batch while the database writes the one before (on PostgreSQL the
 * two overlap: this thread prices and hashes while the server inserts). `next` gives the batches
 * (null when there are no more); `posted` hears of each batch once it is committed, before the
 * next commits. A batch that fails stops the run with its error: the batches before it are
 * committed, it and those after are not.
 */
export async function postUsageBatches(
  store: Store,
  next: () => readonly UsageRecord[] | null,
  setup: LedgerSetup,
  opts: {
    readonly storeRecords?: boolean;
    readonly posted?: (batch: readonly UsageRecord[], result: PostResult) => void;
  } = {},
): Promise<void> {
  const prepare = (batch: readonly UsageRecord[] | null) => {
    if (!batch) return null;
    const p = prepareUsage(batch, setup, {
      storeRecords: opts.storeRecords,
      rowPayloads: store.presumesNew === true,
    });
    if (p.storeRecords) store.encodeUsage?.(p.records);
    return p;
  };
  let current = prepare(next());
  while (current) {
    let following: PreparedUsage | null = null;
    let asked = false;
    // A failure to get or prepare the next batch is that batch's, not the one being written: it
    // is kept until this one is committed, then thrown.
    let failure: { readonly error: unknown } | null = null;
    const prepareNext = () => {
      if (asked) return;
      asked = true;
      try {
        following = prepare(next());
      } catch (error) {
        failure = { error };
      }
    };
    const result = await commitUsage(store, current, { whileWriting: prepareNext });
    opts.posted?.(current.records, result);
    prepareNext();
    if (failure) throw (failure as { readonly error: unknown }).error;
    current = following;
  }
}

/** Revenue-share caps in a currency the price books do not bill in can never be reached: an error. */
export function capCurrencyProblems(agreement: Agreement, books: PriceBooks): string[] {
  const out: string[] = [];
  for (const v of agreement.versions) {
    for (const r of v.terms.revenueShares) {
      if (r.cap && r.cap.currency !== books.currency) {
        out.push(
          `[cap_currency_unpriced] version ${v.id}, revenue share ${r.id}: the cap is in ${r.cap.currency}, but the price books bill in ${books.currency}; add a ${r.cap.currency} price book or state the cap in ${books.currency}`,
        );
      }
    }
  }
  return out;
}
