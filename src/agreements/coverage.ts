// What an agreement version covers, as pure functions: its scope (which models it governs at all),
// its carve-outs (named exemptions from primary-first, exclusivity or the revenue share), and its
// revenue bases (which priced usage a share is computed on). docs/agreements.md states the rules.
import type {
  Agreement,
  AgreementVersion,
  CarveOut,
  CloudTerm,
  Exemption,
  RevenueBase,
  Surface,
} from './schema.js';
import { selects } from './select-models.js';

/** A catalog model as the agreement sees it: its public name and its owner. */
export interface ModelFacts {
  readonly name: string;
  readonly ownedBy: string;
}

/** One priced request, as a revenue base filters it. */
export interface SaleFacts {
  /** The party whose revenue it is: the tenant's party. */
  readonly seller: string;
  readonly tenantId: string;
  readonly model: string;
  readonly ownedBy: string;
  readonly cloud: string | null;
  readonly surface: Surface;
}

/** The scope in force: the version's own, or (absent) the models owned by the agreement's parties. */
export function scopeOf(
  a: Agreement,
  v: AgreementVersion,
): { ownedBy: readonly string[]; models: readonly string[] } {
  return v.terms.scope ?? { ownedBy: a.parties.map((p) => p.id), models: [] };
}

export function inScope(a: Agreement, v: AgreementVersion, model: ModelFacts): boolean {
  const s = scopeOf(a, v);
  return s.ownedBy.includes(model.ownedBy) || selects(s.models, model.name);
}

export function describeScope(a: Agreement, v: AgreementVersion): string {
  const s = scopeOf(a, v);
  const parts = [
    ...(s.ownedBy.length > 0 ? [`models owned by ${s.ownedBy.join(', ')}`] : []),
    ...(s.models.length > 0 ? [`models ${s.models.join(', ')}`] : []),
  ];
  return parts.length > 0 ? parts.join(' and ') : 'nothing';
}

/** Whether a carve-out selects this model (and, when it names tenants, this tenant). */
export function carveOutSelects(c: CarveOut, model: ModelFacts, tenantId: string | null): boolean {
  if (c.models && !selects(c.models, model.name)) return false;
  if (c.ownedBy && !c.ownedBy.includes(model.ownedBy)) return false;
  if (c.tenants && (tenantId === null || !c.tenants.includes(tenantId))) return false;
  return true;
}

/** The first carve-out that exempts this model (for this tenant) from `what`, or null. */
export function exemptionFor(
  v: AgreementVersion,
  model: ModelFacts,
  tenantId: string | null,
  what: Exemption,
): CarveOut | null {
  return (
    v.terms.carveOuts.find((c) => c.exempts.includes(what) && carveOutSelects(c, model, tenantId)) ?? null
  );
}

export interface EffectiveCloudTerm {
  /** The cloud term with the carve-outs that apply taken out; null when the model is out of scope. */
  readonly term: CloudTerm | null;
  /** The carve-outs that changed it, in the order they apply. */
  readonly carveOuts: readonly CarveOut[];
}

/** The cloud term a model (for a tenant) is routed under, after scope and carve-outs. */
export function effectiveCloudTerm(
  a: Agreement,
  v: AgreementVersion,
  model: ModelFacts,
  tenantId: string | null,
): EffectiveCloudTerm {
  if (!inScope(a, v, model)) return { term: null, carveOuts: [] };
  let term = v.terms.cloud;
  const applied: CarveOut[] = [];
  const exclusivity = exemptionFor(v, model, tenantId, 'exclusivity');
  if (exclusivity && (term.exclusive || term.permittedClouds !== 'any')) {
    term = { ...term, exclusive: false, permittedClouds: 'any' };
    applied.push(exclusivity);
  }
  const primaryFirst = exemptionFor(v, model, tenantId, 'primary-first');
  if (primaryFirst && term.firstDeployment) {
    const { firstDeployment: _dropped, ...rest } = term;
    term = rest as CloudTerm;
    if (!applied.includes(primaryFirst)) applied.push(primaryFirst);
  }
  return { term, carveOuts: applied };
}

/** Whether a sale falls in a revenue base: every field the base names must match. */
export function baseMatches(base: RevenueBase, sale: SaleFacts): boolean {
  if (base.seller !== sale.seller) return false;
  if (base.ownedBy && !base.ownedBy.includes(sale.ownedBy)) return false;
  if (base.models && !selects(base.models, sale.model)) return false;
  if (base.clouds && (sale.cloud === null || !base.clouds.includes(sale.cloud))) return false;
  if (base.surfaces && !base.surfaces.includes(sale.surface)) return false;
  if (base.tenants && !base.tenants.includes(sale.tenantId)) return false;
  return true;
}

export function describeBase(base: RevenueBase): string {
  const parts = [`${base.seller}'s revenue`];
  if (base.ownedBy) parts.push(`from models owned by ${base.ownedBy.join(', ')}`);
  if (base.models) parts.push(`on models ${base.models.join(', ')}`);
  if (base.clouds) parts.push(`served on ${base.clouds.join(', ')}`);
  else parts.push('on any cloud');
  if (base.surfaces) parts.push(`via ${base.surfaces.join(', ')}`);
  if (base.tenants) parts.push(`of tenants ${base.tenants.join(', ')}`);
  return parts.join(' ');
}
