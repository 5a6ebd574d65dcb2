// "Why does this request go where it goes?": the route table's decision for a model and a
// caller, in a shape for people (CLI) and machines (admin API).
import type { LicenceDecision } from '../agreements/index.js';
import type { RouteTable } from './compile-route-table.js';

export interface RouteExplanation {
  readonly model: string;
  readonly found: boolean;
  readonly agreementVersion: string | null;
  readonly rolloutSeq: number;
  readonly tableValidUntil: string | null;
  readonly licensee: string | null;
  readonly licence: LicenceDecision | null;
  /** Whether the agreement governs the model; false = outside its scope, routed by plain policy. */
  readonly governed: boolean;
  /** The carve-outs that changed how it routes. */
  readonly carveOuts: readonly { id: string; exempts: readonly string[] }[];
  /** In preference order (primary cloud first); the weighted draw orders ties per request. */
  readonly eligible: readonly {
    deployment: string;
    cloud: string;
    region: string;
    modelVersion: string;
    primary: boolean;
    reason: string;
  }[];
  readonly excluded: readonly { deployment: string; cloud: string; code: string; reason: string }[];
}

export function explainRoute(
  table: RouteTable,
  model: string,
  licensee: string | null,
  tenantId: string | null = null,
): RouteExplanation {
  const entry = table.entryFor(model, tenantId);
  const order = entry ? entry.tiers.flat() : [];
  return {
    model,
    found: entry !== undefined,
    agreementVersion: table.agreementVersionId,
    rolloutSeq: table.rolloutSeq,
    tableValidUntil: Number.isFinite(table.validUntilMs) ? new Date(table.validUntilMs).toISOString() : null,
    licensee,
    licence: table.licence(licensee, model),
    governed: entry?.governed ?? false,
    carveOuts: (entry?.carveOuts ?? []).map((c) => ({ id: c.id, exempts: c.exempts })),
    eligible: order.map((d) => ({
      deployment: d.key,
      cloud: d.cloud,
      region: d.region,
      modelVersion: d.modelVersion,
      primary: d.primary,
      reason: entry!.eligible.find((e) => e.deployment === d)?.reason ?? '',
    })),
    excluded: (entry?.excluded ?? []).map((x) => ({
      deployment: x.deployment.key,
      cloud: x.deployment.cloud,
      code: x.code,
      reason: x.reason,
    })),
  };
}

export function formatExplanation(e: RouteExplanation): string {
  if (!e.found) return `model ${e.model}: not in the catalog`;
  const lines = [
    `model ${e.model} under agreement version ${e.agreementVersion ?? '(none)'}, rollout log #${e.rolloutSeq}${e.tableValidUntil ? `, table valid until ${e.tableValidUntil}` : ''}`,
  ];
  if (e.agreementVersion && !e.governed)
    lines.push('  outside the agreement: no licence, first-deployment or revenue-share term applies');
  for (const c of e.carveOuts) lines.push(`  carve-out ${c.id}: exempt from ${c.exempts.join(', ')}`);
  if (e.licensee && e.licence === null) lines.push(`  licence: not required of ${e.licensee} for this model`);
  else if (e.licensee) {
    lines.push(
      e.licence?.allowed
        ? `  licence: ${e.licensee} may call it (grant ${e.licence.grantId})`
        : `  licence: REFUSED for ${e.licensee}: ${e.licence && !e.licence.allowed ? `${e.licence.reason}: ${e.licence.message}` : ''}`,
    );
  }
  e.eligible.forEach((d, i) => {
    lines.push(
      `  ${i + 1}. ${d.deployment} (${d.cloud}/${d.region}, ${d.modelVersion})${d.primary ? ' [primary]' : ''}: ${d.reason}`,
    );
  });
  for (const x of e.excluded) lines.push(`  x  ${x.deployment} (${x.cloud}): ${x.code}: ${x.reason}`);
  return lines.join('\n');
}
