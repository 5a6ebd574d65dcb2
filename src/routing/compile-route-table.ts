// The route table: the agreement version in force, the rollout log and the catalog compiled into
// one immutable, in-memory table. A request looks up its model (and its licensee's decision) in
// Maps; no rule is evaluated on the request path. The table says until when it is valid (the
// next term boundary or soak end), so the gateway rebuilds it exactly then.
import {
  type Agreement,
  boundaries,
  decideLicence,
  type LicenceDecision,
  versionAsOf,
} from '../agreements/index.js';
import { gateFor, type RolloutEvent, type RolloutRefusal } from '../rollout/index.js';
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
}

export interface RouteTable {
  readonly builtAtMs: number;
  /** The table must be rebuilt at this instant (a term starts or ends, a soak elapses). */
  readonly validUntilMs: number;
  readonly agreementVersionId: string | null;
  readonly rolloutSeq: number;
  readonly models: ReadonlyMap<string, RouteEntry>;
  /** The licence decision for a licensee; null licensee (first-party traffic) is never gated. */
  licence(licensee: string | null, model: string): LicenceDecision | null;
}

function entry(model: CatalogModel, eligible: Eligibility[], excluded: Exclusion[]): RouteEntry {
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
  });
}

export function compileRouteTable(
  catalog: Catalog,
  agreement: Agreement | null,
  log: readonly RolloutEvent[],
  nowMs: number,
  licensees: readonly string[] = [],
): RouteTable {
  const version = agreement ? versionAsOf(agreement, nowMs) : null;
  let validUntilMs = Number.POSITIVE_INFINITY;
  if (agreement)
    for (const b of boundaries(agreement)) if (b > nowMs) validUntilMs = Math.min(validUntilMs, b);
  // The log grouped by model version, so each gate reads only its own events.
  const byVersion = new Map<string, RolloutEvent[]>();
  for (const e of log) {
    const k = `${e.model}@${e.modelVersion}`;
    const list = byVersion.get(k);
    if (list) list.push(e);
    else byVersion.set(k, [e]);
  }
  const models = new Map<string, RouteEntry>();
  for (const model of catalog.values()) {
    const eligible: Eligibility[] = [];
    const excluded: Exclusion[] = [];
    for (const d of model.deployments) {
      if (d.weight === 0) continue;
      if (!agreement) {
        eligible.push({ deployment: d, reason: 'no agreement configured' });
        continue;
      }
      if (!version) {
        excluded.push({
          deployment: d,
          code: 'cloud_not_permitted',
          reason: 'no agreement version is in force',
        });
        continue;
      }
      const events = byVersion.get(`${model.name}@${d.modelVersion}`) ?? [];
      const gate = gateFor(events, model.name, d.modelVersion, d.cloud, version.terms.cloud, nowMs);
      if (gate.open) eligible.push({ deployment: d, reason: gate.reason });
      else {
        excluded.push({ deployment: d, code: gate.code, reason: gate.reason });
        if (gate.opensAtMs !== undefined) validUntilMs = Math.min(validUntilMs, gate.opensAtMs);
      }
    }
    models.set(model.name, entry(model, eligible, excluded));
  }
  const decisions = new Map<string, Map<string, LicenceDecision>>();
  if (agreement) {
    const all = new Set(licensees);
    for (const v of agreement.versions) for (const l of v.terms.licences) all.add(l.licensee);
    for (const who of all) {
      const m = new Map<string, LicenceDecision>();
      for (const name of catalog.keys()) m.set(name, decideLicence(agreement, who, name, nowMs));
      decisions.set(who, m);
    }
  }
  return Object.freeze({
    builtAtMs: nowMs,
    validUntilMs,
    agreementVersionId: version?.id ?? null,
    rolloutSeq: log.at(-1)?.seq ?? 0,
    models,
    licence(licensee: string | null, model: string): LicenceDecision | null {
      if (licensee === null || !agreement) return null;
      return (
        decisions.get(licensee)?.get(model) ?? {
          allowed: false,
          reason: 'not_licensed',
          versionId: version?.id ?? null,
          grantId: null,
          message: `${licensee} holds no licence under agreement '${agreement.id}'`,
        }
      );
    },
  });
}
