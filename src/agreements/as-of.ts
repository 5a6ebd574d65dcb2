// "As of": which version was in force at a valid-time instant, as known at a transaction-time
// instant (bitemporal, SQL:2011 style), and the questions answered under that version.
import type { Agreement, AgreementVersion, Licence } from './schema.js';
import { selects } from './select-models.js';

/**
 * The version in force at `validAtMs`, considering only versions recorded by `knownAtMs`
 * (default: everything recorded). A version lasts until its validTo, or until the next known
 * version starts. Returns null before the first version.
 */
export function versionAsOf(
  a: Agreement,
  validAtMs: number,
  knownAtMs = Number.POSITIVE_INFINITY,
): AgreementVersion | null {
  const known = a.versions.filter((v) => v.recordedAt <= knownAtMs);
  for (let i = known.length - 1; i >= 0; i--) {
    const v = known[i]!;
    if (v.validFrom > validAtMs) continue;
    const next = known[i + 1];
    const to = Math.min(v.validTo ?? Number.POSITIVE_INFINITY, next?.validFrom ?? Number.POSITIVE_INFINITY);
    return validAtMs < to ? v : null;
  }
  return null;
}

export type LicenceDecision =
  | {
      readonly allowed: true;
      readonly versionId: string;
      readonly grantId: string;
      readonly until: number | null;
    }
  | {
      readonly allowed: false;
      readonly reason:
        | 'not_licensed'
        | 'licence_expired'
        | 'licence_not_yet_active'
        | 'no_agreement_in_force';
      readonly versionId: string | null;
      readonly grantId: string | null;
      readonly message: string;
    };

const iso = (ms: number) => new Date(ms).toISOString();

/** May `licensee` call `model` at `atMs`? Decided under the version valid at `atMs`. */
export function decideLicence(a: Agreement, licensee: string, model: string, atMs: number): LicenceDecision {
  const v = versionAsOf(a, atMs);
  if (!v) {
    return {
      allowed: false,
      reason: 'no_agreement_in_force',
      versionId: null,
      grantId: null,
      message: `no version of agreement '${a.id}' is in force at ${iso(atMs)}`,
    };
  }
  const grants = v.terms.licences.filter(
    (l) => l.licensee === licensee && l.subject === 'models' && selects(l.models, model),
  );
  const active = grants.find((l) => l.term.from <= atMs && atMs < (l.term.to ?? Number.POSITIVE_INFINITY));
  if (active) return { allowed: true, versionId: v.id, grantId: active.id, until: active.term.to ?? null };
  const expired = grants
    .filter((l) => l.term.to !== undefined && l.term.to <= atMs)
    .sort((x, y) => y.term.to! - x.term.to!)[0];
  if (expired) {
    return {
      allowed: false,
      reason: 'licence_expired',
      versionId: v.id,
      grantId: expired.id,
      message: `licence '${expired.id}' (agreement version ${v.id}) for ${licensee} to use ${model} ended at ${iso(expired.term.to!)}`,
    };
  }
  const future = grants[0];
  if (future) {
    return {
      allowed: false,
      reason: 'licence_not_yet_active',
      versionId: v.id,
      grantId: future.id,
      message: `licence '${future.id}' (agreement version ${v.id}) for ${licensee} starts at ${iso(future.term.from)}`,
    };
  }
  return {
    allowed: false,
    reason: 'not_licensed',
    versionId: v.id,
    grantId: null,
    message: `agreement version ${v.id} grants ${licensee} no licence to the model ${model}`,
  };
}

/** Every instant at which some answer may change: version starts and ends, term starts and ends. */
export function boundaries(a: Agreement): number[] {
  const out = new Set<number>();
  const term = (t: { from: number; to?: number | undefined }) => {
    out.add(t.from);
    if (t.to !== undefined) out.add(t.to);
  };
  for (const v of a.versions) {
    out.add(v.validFrom);
    if (v.validTo !== undefined) out.add(v.validTo);
    for (const l of v.terms.licences as Licence[]) term(l.term);
    for (const r of v.terms.revenueShares) term(r.term);
  }
  return [...out].sort((x, y) => x - y);
}
