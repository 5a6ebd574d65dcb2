// The rollout log in the store: events validated with zod on the way in and out, and appended
// only when the first-deployment rule of the agreement version in force at the event's time
// allows it (judged inside the store's transaction, in log order).
import { z } from 'zod';
import { type Agreement, versionAsOf } from '../agreements/index.js';
import type { Store } from '../store/index.js';
import {
  checkEvent,
  type NewRolloutEvent,
  type RolloutEvent,
  type RolloutRefusal,
  stages,
} from './rollout-rules.js';

const name = z.string().min(1).max(256);
export const newEventSchema = z.discriminatedUnion('kind', [
  z.strictObject({
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
    kind: z.literal('waiver'),
    model: name,
    modelVersion: name,
    capability: z.string().min(1),
    primaryCannotSupport: z.boolean(),
    partnerDecisionRef: z.string(),
    atMs: z.number().int().nonnegative(),
  }),
]);

export async function readRolloutLog(store: Store): Promise<RolloutEvent[]> {
  return (await store.listRolloutEvents()).map((r) => ({ ...newEventSchema.parse(r.payload), seq: r.seq }));
}

export type AppendResult =
  | { readonly ok: true; readonly seq: number }
  | { readonly ok: false; readonly code: RolloutRefusal | 'no_agreement_in_force'; readonly reason: string };

export async function appendRolloutEvent(
  store: Store,
  agreement: Agreement | null,
  event: NewRolloutEvent,
): Promise<AppendResult> {
  const parsed = newEventSchema.parse(event);
  const version = agreement ? versionAsOf(agreement, parsed.atMs) : null;
  if (agreement && !version) {
    return {
      ok: false,
      code: 'no_agreement_in_force',
      reason: `no version of agreement '${agreement.id}' is in force at ${new Date(parsed.atMs).toISOString()}`,
    };
  }
  const r = await store.appendRolloutEvent(parsed, (rows) => {
    if (!version) return null;
    const log = rows.map((x) => ({ ...newEventSchema.parse(x.payload), seq: x.seq }));
    return checkEvent(log, parsed, version.terms.cloud);
  });
  return 'seq' in r ? { ok: true, seq: r.seq } : { ok: false, ...r.refused };
}
