// The rollout log in the store: events validated with zod on the way in and out, and appended
// only when the first-deployment rule of the agreement version in force at the event's time
// allows it (judged inside the store's transaction, in log order).
import { z } from 'zod';
import { type Agreement, effectiveCloudTerm, versionAsOf } from '../agreements/index.js';
import type { Store } from '../store/index.js';
import {
  checkEvent,
  type NewRolloutEvent,
  type RolloutEvent,
  type RolloutRefusal,
  stages,
} from './rollout-rules.js';

const name = z.string().min(1).max(256);
/** Imported history: the claimed time and the source, kept for the record, never read by a gate. */
const imported = {
  occurredAtMs: z.number().int().nonnegative().optional(),
  importedFrom: z.string().min(1).max(512).optional(),
};
export const newEventSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    ...imported,
    kind: z.literal('stage'),
    model: name,
    modelVersion: name,
    cloud: name,
    region: z.string().min(1).default('global'),
    stage: z.enum(stages),
    evidence: z.string().default(''),
    atMs: z.number().int().nonnegative(),
  }),
  z.strictObject({
    ...imported,
    kind: z.literal('waiver'),
    model: name,
    modelVersion: name,
    capability: z.string().min(1),
    primaryCannotSupport: z.boolean(),
    partnerDecisionRef: z.string(),
    atMs: z.number().int().nonnegative(),
  }),
  z.strictObject({
    ...imported,
    kind: z.literal('declaration'),
    declaration: z.literal('agi-verified'),
    panelRecordRef: z.string().trim().min(1, "the verifying panel's record is required").max(512),
    atMs: z.number().int().nonnegative(),
  }),
]);

/** The rollout log, validated; with `afterSeq`, only the events appended after that one. */
export async function readRolloutLog(store: Store, afterSeq = 0): Promise<RolloutEvent[]> {
  return (await store.listRolloutEvents(afterSeq)).map((r) => ({
    ...newEventSchema.parse(r.payload),
    seq: r.seq,
  }));
}

export type AppendResult =
  | { readonly ok: true; readonly seq: number }
  | {
      readonly ok: false;
      readonly code: RolloutRefusal | 'no_agreement_in_force' | 'declaration_exists';
      readonly reason: string;
    };

export interface AppendOptions {
  /** The catalog's owner of a model: scope and carve-outs decide which rule a promotion meets. */
  readonly ownerOf?: (model: string) => string | undefined;
}

export async function appendRolloutEvent(
  store: Store,
  agreement: Agreement | null,
  event: NewRolloutEvent,
  opts: AppendOptions = {},
): Promise<AppendResult> {
  const parsed = newEventSchema.parse(event);
  if (parsed.kind === 'declaration') {
    const r = await store.appendRolloutEvent(parsed, (rows) => {
      const prior = rows.find((x) => (x.payload as { kind?: string }).kind === 'declaration');
      return prior
        ? {
            code: 'declaration_exists' as const,
            reason: `an AGI declaration was already entered (log #${prior.seq})`,
          }
        : null;
    });
    return 'seq' in r ? { ok: true, seq: r.seq } : { ok: false, ...r.refused };
  }
  const version = agreement ? versionAsOf(agreement, parsed.atMs) : null;
  if (agreement && !version) {
    return {
      ok: false,
      code: 'no_agreement_in_force',
      reason: `no version of agreement '${agreement.id}' is in force at ${new Date(parsed.atMs).toISOString()}`,
    };
  }
  const r = await store.appendRolloutEvent(parsed, (rows) => {
    if (!version || !agreement) return null;
    const owner = opts.ownerOf?.(parsed.model);
    // A model outside the agreement's scope meets no rule; a carve-out lifts the rules it names.
    const term =
      owner === undefined
        ? version.terms.cloud
        : effectiveCloudTerm(agreement, version, { name: parsed.model, ownedBy: owner }, null).term;
    if (!term) return null;
    const log = rows.map((x) => ({ ...newEventSchema.parse(x.payload), seq: x.seq }));
    return checkEvent(log, parsed, term);
  });
  return 'seq' in r ? { ok: true, seq: r.seq } : { ok: false, ...r.refused };
}
