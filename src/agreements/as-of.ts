// "As of": which version was in force at a valid-time instant, as known at a transaction-time
// instant (bitemporal, SQL:2011 style), and the questions answered under that version.
import type { Agreement, AgreementVersion, Licence, Surface } from './schema.js';
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
  // Everything recorded (the usual question, asked per usage record) needs no filtered copy.
  const known =
    knownAtMs === Number.POSITIVE_INFINITY ? a.versions : a.versions.filter((v) => v.recordedAt <= knownAtMs);
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
        | 'product_not_licensed'
        | 'no_agreement_in_force';
      readonly versionId: string | null;
      readonly grantId: string | null;
      readonly message: string;
    };

/** Events the agreement's conditions wait on; today one kind: an AGI declaration, verified. */
export interface Declaration {
  readonly kind: 'agi-verified';
  /** The server's time when it was entered: conditions that wait on it end at this instant. */
  readonly atMs: number;
  readonly panelRecordRef: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The instant a grant ends: its term's end, or earlier when a condition ends it (an until-date, or
 * an AGI declaration already entered). null = open-ended.
 */
export function grantEndMs(l: Licence, declarations: readonly Declaration[]): number | null {
  let end = l.term.to ?? Number.POSITIVE_INFINITY;
  for (const c of l.conditions) {
    if (c.kind === 'until-date') end = Math.min(end, c.until);
    if (c.kind === 'until-agi-verified') {
      const d = declarations.find((x) => x.kind === 'agi-verified');
      if (d) end = Math.min(end, d.atMs);
    }
  }
  return Number.isFinite(end) ? end : null;
}

function endedBy(l: Licence, endMs: number, declarations: readonly Declaration[]): string {
  const agi = declarations.find((x) => x.kind === 'agi-verified');
  if (agi && agi.atMs === endMs && l.conditions.some((c) => c.kind === 'until-agi-verified'))
    return `its condition until-agi-verified: an AGI declaration was entered at ${iso(endMs)} (panel record ${agi.panelRecordRef})`;
  if (l.conditions.some((c) => c.kind === 'until-date' && c.until === endMs))
    return `its condition until-date at ${iso(endMs)}`;
  return `its term at ${iso(endMs)}`;
}

interface DecideOptions {
  /** The API surface of the request; product grants that name it gate it. */
  readonly surface?: Surface;
  readonly declarations?: readonly Declaration[];
}

/**
 * The active grant among `grants` at `atMs`, or the refusal that explains why none is: an
 * ended grant (by term or condition) before one that has not started yet.
 */
function activeGrant(
  grants: readonly Licence[],
  atMs: number,
  declarations: readonly Declaration[],
):
  | { readonly grant: Licence; readonly endMs: number | null }
  | {
      readonly grant: null;
      readonly ended: { l: Licence; endMs: number } | null;
      readonly future: Licence | null;
    } {
  let ended: { l: Licence; endMs: number } | null = null;
  for (const l of grants) {
    const endMs = grantEndMs(l, declarations);
    if (l.term.from <= atMs && (endMs === null || atMs < endMs)) return { grant: l, endMs };
    if (endMs !== null && endMs <= atMs && (!ended || endMs > ended.endMs)) ended = { l, endMs };
  }
  return { grant: null, ended, future: grants.find((l) => l.term.from > atMs) ?? null };
}

/**
 * May `licensee` call `model` at `atMs`? Decided under the version valid at `atMs`: it needs an
 * active models grant, and, when a products grant names the request's API surface, an active one.
 */
export function decideLicence(
  a: Agreement,
  licensee: string,
  model: string,
  atMs: number,
  opts: DecideOptions = {},
): LicenceDecision {
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
  const declarations = opts.declarations ?? [];
  const grants = v.terms.licences.filter(
    (l) => l.licensee === licensee && l.subject === 'models' && selects(l.models, model),
  );
  const found = activeGrant(grants, atMs, declarations);
  if (found.grant === null) {
    if (found.ended)
      return {
        allowed: false,
        reason: 'licence_expired',
        versionId: v.id,
        grantId: found.ended.l.id,
        message: `licence '${found.ended.l.id}' (agreement version ${v.id}) for ${licensee} to use ${model} ended by ${endedBy(found.ended.l, found.ended.endMs, declarations)}`,
      };
    if (found.future)
      return {
        allowed: false,
        reason: 'licence_not_yet_active',
        versionId: v.id,
        grantId: found.future.id,
        message: `licence '${found.future.id}' (agreement version ${v.id}) for ${licensee} starts at ${iso(found.future.term.from)}`,
      };
    return {
      allowed: false,
      reason: 'not_licensed',
      versionId: v.id,
      grantId: null,
      message: `agreement version ${v.id} grants ${licensee} no licence to the model ${model}`,
    };
  }
  const surface = opts.surface;
  if (surface) {
    const products = v.terms.licences.filter(
      (l) =>
        l.licensee === licensee &&
        l.subject === 'products' &&
        l.products?.includes(surface) &&
        selects(l.models, model),
    );
    if (products.length > 0) {
      const p = activeGrant(products, atMs, declarations);
      if (p.grant === null)
        return {
          allowed: false,
          reason: 'product_not_licensed',
          versionId: v.id,
          grantId: p.ended?.l.id ?? p.future?.id ?? null,
          message: p.ended
            ? `product licence '${p.ended.l.id}' (agreement version ${v.id}) for ${licensee} to use the ${surface} API ended by ${endedBy(p.ended.l, p.ended.endMs, declarations)}`
            : `product licence '${p.future?.id}' (agreement version ${v.id}) for ${licensee} to use the ${surface} API has not started`,
        };
      const endMs = Math.min(found.endMs ?? Number.POSITIVE_INFINITY, p.endMs ?? Number.POSITIVE_INFINITY);
      return {
        allowed: true,
        versionId: v.id,
        grantId: `${found.grant.id}+${p.grant.id}`,
        until: Number.isFinite(endMs) ? endMs : null,
      };
    }
  }
  return { allowed: true, versionId: v.id, grantId: found.grant.id, until: found.endMs };
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
    for (const l of v.terms.licences as Licence[]) {
      term(l.term);
      for (const c of l.conditions) if (c.kind === 'until-date') out.add(c.until);
    }
    for (const r of v.terms.revenueShares) term(r.term);
  }
  return [...out].sort((x, y) => x - y);
}
