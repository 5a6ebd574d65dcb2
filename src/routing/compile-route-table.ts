// The route table: the agreement version in force, the rollout log and the catalog compiled into
// one immutable, in-memory table. A request looks up its model (and its licensee's decision) in
// Maps; no rule is evaluated on the request path. The table says until when it is valid (the
// next term boundary or soak end), so the gateway rebuilds it exactly then.
import {
  type Agreement,
  type AgreementVersion,
  boundaries,
  type CarveOut,
  decideLicence,
  describeScope,
  effectiveCloudTerm,
  inScope,
  type LicenceDecision,
  SURFACES,
  type Surface,
  versionAsOf,
} from '../agreements/index.js';
import { declarationsIn, gateFor, type RolloutEvent, type RolloutRefusal } from '../rollout/index.js';
import type { Catalog, CatalogDeployment, CatalogModel } from './catalog.js';
import { compileTiers } from './catalog.js';

export interface Exclusion {
  readonly deployment: CatalogDeployment;
  readonly code: RolloutRefusal;
  readonly reason: string;
}

export interface Eligibility {
  readonly deployment: CatalogDeployment;
  readonly reason: string;
}

/** A catalog model narrowed to what the agreement allows now, with the reasons. */
export interface RouteEntry extends CatalogModel {
  readonly eligible: readonly Eligibility[];
  readonly excluded: readonly Exclusion[];
  /** Whether the agreement in force governs this model at all (false: routed by plain policy). */
  readonly governed: boolean;
  /** The carve-outs that changed how it routes (for this tenant, when the entry is a tenant's). */
  readonly carveOuts: readonly CarveOut[];
}

export interface RouteTable {
  readonly builtAtMs: number;
  /** The table must be rebuilt at this instant (a term starts or ends, a soak elapses). */
  readonly validUntilMs: number;
  readonly agreementVersionId: string | null;
  readonly rolloutSeq: number;
  readonly models: ReadonlyMap<string, RouteEntry>;
  /** The entry a tenant's request routes by: its own when a tenant carve-out applies to it. */
  entryFor(model: string, tenantId: string | null): RouteEntry | undefined;
  /**
   * The licence decision for a licensee on an API surface; null = not gated (first-party
   * traffic, no agreement, or a model outside the agreement's scope).
   */
  licence(licensee: string | null, model: string, surface?: Surface): LicenceDecision | null;
}

function entry(
  model: CatalogModel,
  eligible: Eligibility[],
  excluded: Exclusion[],
  governed: boolean,
  carveOuts: readonly CarveOut[],
): RouteEntry {
  const deployments = eligible.map((e) => e.deployment);
  const tiers = compileTiers(deployments);
  const fixedOrder = tiers.every((t) => t.length === 1) ? Object.freeze(tiers.flat()) : null;
  return Object.freeze({
    name: model.name,
    ownedBy: model.ownedBy,
    deployments,
    tiers,
    fixedOrder,
    eligible,
    excluded,
    governed,
    carveOuts,
  });
}

interface CompileInput {
  readonly agreement: Agreement | null;
  readonly version: AgreementVersion | null;
  readonly byVersion: ReadonlyMap<string, RolloutEvent[]>;
  readonly nowMs: number;
}

/** One model's entry: the deployments the agreement allows now (for a tenant, or for anyone). */
function compileEntry(
  input: CompileInput,
  model: CatalogModel,
  tenantId: string | null,
  onOpensAt: (ms: number) => void,
): RouteEntry {
  const { agreement, version } = input;
  const eligible: Eligibility[] = [];
  const excluded: Exclusion[] = [];
  const live = model.deployments.filter((d) => d.weight > 0);
  if (!agreement) {
    for (const d of live) eligible.push({ deployment: d, reason: 'no agreement configured' });
    return entry(model, eligible, excluded, false, []);
  }
  if (!version) {
    for (const d of live)
      excluded.push({
        deployment: d,
        code: 'cloud_not_permitted',
        reason: 'no agreement version is in force',
      });
    return entry(model, eligible, excluded, true, []);
  }
  const { term, carveOuts } = effectiveCloudTerm(agreement, version, model, tenantId);
  if (!term) {
    const why = `outside agreement '${agreement.id}' (its scope: ${describeScope(agreement, version)}); routed by plain policy`;
    for (const d of live) eligible.push({ deployment: d, reason: why });
    return entry(model, eligible, excluded, false, []);
  }
  // A carve-out that opened a cloud is the reason it may serve, not the rule it lifted.
  const carved =
    carveOuts.length > 0
      ? `carve-out ${carveOuts.map((c) => `${c.id} (exempt from ${c.exempts.join(', ')})`).join(', ')}: may serve at once`
      : null;
  for (const d of live) {
    const events = input.byVersion.get(`${model.name}@${d.modelVersion}`) ?? [];
    const gate = gateFor(events, model.name, d.modelVersion, d.cloud, term, input.nowMs);
    if (gate.open)
      eligible.push({
        deployment: d,
        reason: carved && gate.via === 'primary' && d.cloud !== term.primary ? carved : gate.reason,
      });
    else {
      excluded.push({ deployment: d, code: gate.code, reason: gate.reason });
      if (gate.opensAtMs !== undefined) onOpensAt(gate.opensAtMs);
    }
  }
  return entry(model, eligible, excluded, true, carveOuts);
}

export function compileRouteTable(
  catalog: Catalog,
  agreement: Agreement | null,
  log: readonly RolloutEvent[],
  nowMs: number,
  licensees: readonly string[] = [],
): RouteTable {
  const version = agreement ? versionAsOf(agreement, nowMs) : null;
  const declarations = declarationsIn(log);
  let validUntilMs = Number.POSITIVE_INFINITY;
  const onOpensAt = (ms: number) => {
    validUntilMs = Math.min(validUntilMs, ms);
  };
  if (agreement) for (const b of boundaries(agreement)) if (b > nowMs) onOpensAt(b);
  // The log grouped by model version, so each gate reads only its own events.
  const byVersion = new Map<string, RolloutEvent[]>();
  for (const e of log) {
    if (e.kind === 'declaration') continue;
    const k = `${e.model}@${e.modelVersion}`;
    const list = byVersion.get(k);
    if (list) list.push(e);
    else byVersion.set(k, [e]);
  }
  const input: CompileInput = { agreement, version, byVersion, nowMs };
  const models = new Map<string, RouteEntry>();
  for (const model of catalog.values()) models.set(model.name, compileEntry(input, model, null, onOpensAt));
  // Tenants named by a carve-out get their own entries where it changes how a model routes.
  const byTenant = new Map<string, Map<string, RouteEntry>>();
  const tenants = new Set(version?.terms.carveOuts.flatMap((c) => c.tenants ?? []) ?? []);
  for (const tenant of tenants) {
    const own = new Map<string, RouteEntry>();
    for (const model of catalog.values()) {
      const e = compileEntry(input, model, tenant, onOpensAt);
      if (e.carveOuts.length > (models.get(model.name)?.carveOuts.length ?? 0)) own.set(model.name, e);
    }
    byTenant.set(tenant, own);
  }
  const decisions = new Map<string, LicenceDecision>();
  if (agreement && version) {
    const all = new Set(licensees);
    for (const v of agreement.versions) for (const l of v.terms.licences) all.add(l.licensee);
    for (const who of all)
      for (const m of catalog.values()) {
        if (!inScope(agreement, version, m)) continue;
        for (const surface of SURFACES) {
          const d = decideLicence(agreement, who, m.name, nowMs, { surface, declarations });
          decisions.set(`${who}\u0000${m.name}\u0000${surface}`, d);
          if (d.allowed && d.until !== null) onOpensAt(d.until);
        }
      }
  }
  return Object.freeze({
    builtAtMs: nowMs,
    validUntilMs,
    agreementVersionId: version?.id ?? null,
    rolloutSeq: log.at(-1)?.seq ?? 0,
    models,
    entryFor(model: string, tenantId: string | null): RouteEntry | undefined {
      return (tenantId !== null ? byTenant.get(tenantId)?.get(model) : undefined) ?? models.get(model);
    },
    licence(licensee: string | null, model: string, surface: Surface = 'chat'): LicenceDecision | null {
      if (licensee === null || !agreement) return null;
      if (version && models.get(model)?.governed === false) return null;
      if (!version)
        return {
          allowed: false,
          reason: 'no_agreement_in_force',
          versionId: null,
          grantId: null,
          message: `no version of agreement '${agreement.id}' is in force`,
        };
      return (
        decisions.get(`${licensee}\u0000${model}\u0000${surface}`) ?? {
          allowed: false,
          reason: 'not_licensed',
          versionId: version.id,
          grantId: null,
          message: `${licensee} holds no licence under agreement '${agreement.id}'`,
        }
      );
    },
  });
}
