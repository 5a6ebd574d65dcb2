// The first-deployment rule over the rollout log, as pure functions. "First" is decided by the
// order of the log (its sequence numbers), never by wall clocks: a primary GA event recorded
// later in the log does not open another cloud that promoted earlier, whatever the timestamps
// say. Only the soak time is measured in time, from the primary GA event's own timestamp.
import type { CloudTerm, Declaration } from '../agreements/index.js';

export const stages = ['planned', 'preview', 'ga', 'retired'] as const;
export type Stage = (typeof stages)[number];

export interface StageEvent {
  readonly kind: 'stage';
  readonly model: string;
  readonly modelVersion: string;
  readonly cloud: string;
  readonly region: string;
  readonly stage: Stage;
  readonly evidence: string;
  readonly atMs: number;
}

/** A waiver of the first-deployment rule for one model version (DESIGN.md: the primary cannot
 * support a needed capability, and the partner declines to). */
export interface WaiverEvent {
  readonly kind: 'waiver';
  readonly model: string;
  readonly modelVersion: string;
  readonly capability: string;
  readonly primaryCannotSupport: boolean;
  /** The partner's recorded decision (a document reference), or '' when none. */
  readonly partnerDecisionRef: string;
  readonly atMs: number;
}

/**
 * A declaration the agreement's conditions wait on: an AGI declaration verified by the expert
 * panel ends every grant conditioned `until-agi-verified` at its `atMs` (the server's time).
 */
export interface DeclarationEvent {
  readonly kind: 'declaration';
  readonly declaration: 'agi-verified';
  /** The verifying panel's record (a document reference). */
  readonly panelRecordRef: string;
  readonly atMs: number;
}

export type NewRolloutEvent = (StageEvent | WaiverEvent | DeclarationEvent) & {
  /** Imported history only: when the event happened by the record imported; never used by a gate. */
  readonly occurredAtMs?: number | undefined;
  /** Imported history only: where it was imported from. */
  readonly importedFrom?: string | undefined;
};
export type RolloutEvent = NewRolloutEvent & { readonly seq: number };

export type Gate =
  | { readonly open: true; readonly via: 'primary'; readonly reason: string }
  | {
      readonly open: true;
      readonly via: 'primary-ga' | 'waiver';
      readonly seq: number;
      readonly reason: string;
    }
  | {
      readonly open: false;
      readonly code: RolloutRefusal;
      readonly reason: string;
      readonly opensAtMs?: number;
    };

export type RolloutRefusal =
  | 'not_yet_deployed_on_primary'
  | 'soak_not_elapsed'
  | 'cloud_not_permitted'
  | 'waiver_incomplete'
  | 'retired';

const iso = (ms: number) => new Date(ms).toISOString();
const same = (e: NewRolloutEvent, model: string, version: string) =>
  e.kind !== 'declaration' && e.model === model && e.modelVersion === version;

function waiverComplete(w: WaiverEvent, term: CloudTerm): boolean {
  const req = term.firstDeployment?.waiverRequires ?? ['primary-cannot-support', 'partner-declined'];
  return (
    (!req.includes('primary-cannot-support') || w.primaryCannotSupport) &&
    (!req.includes('partner-declined') || w.partnerDecisionRef.length > 0)
  );
}

/**
 * May `cloud` serve (or be promoted to GA for) model@version, judged on the log up to (not
 * including) sequence `beforeSeq`, at time `atMs`, under `term`?
 */
export function gateFor(
  log: readonly RolloutEvent[],
  model: string,
  version: string,
  cloud: string,
  term: CloudTerm,
  atMs: number,
  beforeSeq = Number.POSITIVE_INFINITY,
): Gate {
  if (cloud === term.primary) return { open: true, via: 'primary', reason: `${cloud} is the primary cloud` };
  if (term.exclusive)
    return {
      open: false,
      code: 'cloud_not_permitted',
      reason: `the agreement makes ${term.primary} the exclusive cloud; ${cloud} may not serve`,
    };
  if (term.permittedClouds !== 'any' && !term.permittedClouds.includes(cloud)) {
    return {
      open: false,
      code: 'cloud_not_permitted',
      reason: `${cloud} is not among the permitted clouds (${term.permittedClouds.join(', ')})`,
    };
  }
  const prior = log.filter((e) => e.seq < beforeSeq && same(e, model, version));
  const own = prior
    .filter((e): e is RolloutEvent & StageEvent => e.kind === 'stage' && e.cloud === cloud)
    .at(-1);
  if (own?.stage === 'retired')
    return {
      open: false,
      code: 'retired',
      reason: `${model}@${version} was retired on ${cloud} (log #${own.seq})`,
    };
  if (!term.firstDeployment)
    return { open: true, via: 'primary', reason: 'no first-deployment rule in force' };
  const waiver = prior.find(
    (e): e is RolloutEvent & WaiverEvent => e.kind === 'waiver' && waiverComplete(e, term),
  );
  const primaryGa = prior.find(
    (e): e is RolloutEvent & StageEvent => e.kind === 'stage' && e.cloud === term.primary && e.stage === 'ga',
  );
  if (primaryGa) {
    const soakMs = term.firstDeployment.minSoakHours * 3_600_000;
    const opensAtMs = primaryGa.atMs + soakMs;
    // Without a soak, order alone decides: a node whose clock runs behind must not be refused
    // what the log already allows.
    if (soakMs === 0 || atMs >= opensAtMs)
      return {
        open: true,
        via: 'primary-ga',
        seq: primaryGa.seq,
        reason: `GA on ${term.primary} at log #${primaryGa.seq}`,
      };
    if (!waiver)
      return {
        open: false,
        code: 'soak_not_elapsed',
        reason: `GA on ${term.primary} at log #${primaryGa.seq}; the ${term.firstDeployment.minSoakHours} h soak ends at ${iso(opensAtMs)}`,
        opensAtMs,
      };
  }
  if (waiver)
    return {
      open: true,
      via: 'waiver',
      seq: waiver.seq,
      reason: `waiver at log #${waiver.seq}: ${term.primary} cannot support ${waiver.capability}; partner decision ${waiver.partnerDecisionRef}`,
    };
  const incomplete = prior.find((e) => e.kind === 'waiver');
  if (incomplete)
    return {
      open: false,
      code: 'waiver_incomplete',
      reason: `the waiver at log #${incomplete.seq} lacks what the agreement requires (${(term.firstDeployment.waiverRequires ?? []).join(' and ')})`,
    };
  return {
    open: false,
    code: 'not_yet_deployed_on_primary',
    reason: `first-deployment rule: ${model}@${version} is not GA on the primary cloud ${term.primary} yet, and no waiver was recorded`,
  };
}

/** Why a new event may not be appended, or null. Promotion to GA elsewhere is what the rule guards. */
export function checkEvent(
  log: readonly RolloutEvent[],
  e: NewRolloutEvent,
  term: CloudTerm,
): { code: RolloutRefusal; reason: string } | null {
  if (e.kind !== 'stage' || e.stage !== 'ga') return null;
  // The soak is measured from the primary GA's atMs, which is always the server's time of
  // appending (imported history keeps its claimed time in occurredAtMs, which no gate reads).
  // The cloud's own earlier stages (a retirement, say) do not bear on whether it may go GA now.
  const others = log.filter((x) => !(x.kind === 'stage' && x.cloud === e.cloud));
  const gate = gateFor(others, e.model, e.modelVersion, e.cloud, term, e.atMs);
  return gate.open
    ? null
    : { code: gate.code === 'retired' ? 'not_yet_deployed_on_primary' : gate.code, reason: gate.reason };
}

/** The latest stage of every (model@version, cloud) pair. */
export function stagesNow(log: readonly RolloutEvent[]): Map<string, RolloutEvent & StageEvent> {
  const out = new Map<string, RolloutEvent & StageEvent>();
  for (const e of log) if (e.kind === 'stage') out.set(`${e.model}@${e.modelVersion}|${e.cloud}`, e);
  return out;
}

/** The declarations in the log (an AGI declaration, verified), in log order. */
export function declarationsIn(log: readonly RolloutEvent[]): Declaration[] {
  return log.flatMap((e) =>
    e.kind === 'declaration' ? [{ kind: e.declaration, atMs: e.atMs, panelRecordRef: e.panelRecordRef }] : [],
  );
}
