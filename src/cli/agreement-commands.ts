// `entente agreement …`, `entente rollout …` and `entente route explain`: thin over the
// agreements, rollout and routing modules. Each prints for people, or JSON with --json.

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { toJson } from '../admin/index.js';
import {
  type Agreement,
  agreementSchema,
  describeBase,
  describeScope,
  diffVersions,
  formatChanges,
  loadAgreement,
  versionAsOf,
} from '../agreements/index.js';
import { auditor, cliActor } from '../audit/index.js';
import { systemClock } from '../clock/index.js';
import { type LoadedConfig, loadConfig } from '../config/index.js';
import {
  appendRolloutEvent,
  gateFor,
  type NewRolloutEvent,
  readRolloutLog,
  stagesNow,
} from '../rollout/index.js';
import { compileCatalog, compileRouteTable, explainRoute, formatExplanation } from '../routing/index.js';
import type { Store } from '../store/index.js';
import { announceChange } from './announce.js';
import type { CliInput, Fail } from './cli-input.js';
import { loadCliConfig, openCliStore } from './load-cli-config.js';
import { preflight } from './preflight.js';

const out = (s: string): void => {
  process.stdout.write(`${s}\n`);
};
const iso = (ms: number) => new Date(ms).toISOString();

function instant(v: string | undefined, name: string, fail: Fail): number | undefined {
  if (v === undefined) return undefined;
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) fail(`${name} must be an ISO-8601 date or instant, got '${v}'`);
  return ms;
}

function agreementFrom(
  flag: string | undefined,
  configFile: string,
  fail: Fail,
): { agreement: Agreement; file: string } {
  const file =
    flag ??
    loadConfig(configFile).agreementFile ??
    fail('no agreement: pass --agreement FILE, or name one in the config (agreement.file)');
  return { agreement: loadAgreement(file), file };
}

export async function agreementCommand(
  sub: string | undefined,
  input: CliInput,
  configFile: string,
  fail: Fail,
): Promise<void> {
  const { values, positionals } = input;
  if (sub === 'schema') {
    out(JSON.stringify(z.toJSONSchema(agreementSchema, { io: 'input', unrepresentable: 'any' }), null, 2));
    return;
  }
  // `agreement validate FILE` (and show, diff with --agreement): the file named wins over the
  // config's; validate takes FILE as its first positional.
  // A first positional that is a file (validate: always) names the agreement; diff's version ids
  // follow it.
  const fileFirst = positionals[0] !== undefined && (sub === 'validate' || existsSync(positionals[0]));
  const named = values.agreement ?? (fileFirst ? positionals[0] : undefined);
  if (fileFirst) positionals.shift();
  if (sub === 'validate') {
    // The same checks `serve` makes, whenever a config can be found: the clouds against the
    // catalog, the caps against the price books (the same words serve gives).
    const loaded = configFile && existsSync(configFile) ? loadCliConfig(configFile) : null;
    const file = resolve(
      named ??
        loaded?.agreementFile ??
        fail('no agreement: pass FILE, or name one in the config (agreement.file)'),
    );
    const a = loaded ? preflight(loaded, systemClock.now(), file).agreement! : loadAgreement(file);
    out(`${file}: valid (${a.versions.length} versions: ${a.versions.map((v) => v.id).join(', ')})`);
    return;
  }
  const { agreement: a } = agreementFrom(named, configFile, fail);
  if (sub === 'show') {
    const asOf = instant(values['as-of'], '--as-of', fail) ?? systemClock.now();
    const knownAt = instant(values['known-at'], '--known-at', fail);
    const v = versionAsOf(a, asOf, knownAt);
    if (!v)
      fail(
        `no version of ${a.id} is in force at ${iso(asOf)}${knownAt ? ` as known at ${iso(knownAt)}` : ''}`,
        1,
      );
    if (input.flags.has('json')) return out(toJson(v));
    const t = v.terms;
    out(
      `${a.title}: version ${v.id} (${v.kind}) in force at ${iso(asOf)}${knownAt ? `, as known at ${iso(knownAt)}` : ''}; effective ${iso(v.validFrom)}, recorded ${iso(v.recordedAt)}`,
    );
    out(
      `  cloud: primary ${t.cloud.primary}${t.cloud.exclusive ? ' (exclusive)' : `, others: ${t.cloud.permittedClouds === 'any' ? 'any' : t.cloud.permittedClouds.join(', ')}`}${t.cloud.firstDeployment ? `, primary first (soak ${t.cloud.firstDeployment.minSoakHours} h; waiver needs ${t.cloud.firstDeployment.waiverRequires.join(' + ')})` : ''}`,
    );
    out(`  scope: ${describeScope(a, v)}; other models route by plain policy`);
    for (const c of t.carveOuts)
      out(
        `  carve-out ${c.id}: exempt from ${c.exempts.join(', ')} for ${[c.models ? `models ${c.models.join(', ')}` : '', c.ownedBy ? `owned by ${c.ownedBy.join(', ')}` : '', c.tenants ? `tenants ${c.tenants.join(', ')}` : ''].filter(Boolean).join('; ')}`,
      );
    for (const l of t.licences)
      out(
        `  licence ${l.id}: ${l.licensor} → ${l.licensee}, ${l.subject}${l.products ? ` (${l.products.join(', ')})` : ''} [${l.models.join(', ')}], ${l.exclusivity}, ${iso(l.term.from)} – ${l.term.to ? iso(l.term.to) : 'open'}${l.conditions.length ? `, conditions: ${l.conditions.map((c) => c.kind).join(', ')}` : ''}`,
      );
    for (const r of t.revenueShares)
      out(
        `  revenue share ${r.id}: ${r.payer} → ${r.payee} at ${r.rate.num}/${r.rate.den} of ${describeBase(r.revenueBase)}, until ${r.term.to ? iso(r.term.to) : 'open'}${r.cap ? `, capped at ${r.cap.amount / 1_000_000n} ${r.cap.currency}` : ', no cap'}${r.milestoneIndependent ? ', independent of milestones' : ', milestones can end it'}`,
      );
    for (const e of t.equity) out(`  equity: ${e.holder} holds ${e.stake.num}/${e.stake.den}`);
    for (const p of t.programmes) out(`  programme ${p.id} (${p.kind}): ${p.title}`);
    return;
  }
  if (sub === 'diff') {
    const [fromId, toId] =
      positionals.length >= 2 ? positionals : [a.versions.at(-2)?.id, a.versions.at(-1)?.id];
    const from = a.versions.find((v) => v.id === fromId);
    const to = a.versions.find((v) => v.id === toId);
    if (!from || !to)
      fail(`usage: entente agreement diff [FROM TO] (versions: ${a.versions.map((v) => v.id).join(', ')})`);
    const changes = diffVersions(from, to);
    out(
      input.flags.has('json')
        ? JSON.stringify({ from: from.id, to: to.id, changes }, null, 2)
        : formatChanges(from, to, changes),
    );
    return;
  }
  fail(`unknown command 'agreement ${sub ?? ''}'. Try: validate, show [--as-of D], diff [FROM TO], schema`);
}

/** A rollout event from the CLI: judged like any other, and audited as the OS user's. */
async function appendAudited(
  store: Store,
  agreement: Agreement,
  loaded: LoadedConfig,
  event: NewRolloutEvent,
) {
  const ownerOf = (m: string) => loaded.config.models.find((x) => x.name === m)?.ownedBy;
  const r = await appendRolloutEvent(store, agreement, event, { ownerOf });
  if (r.ok && event.kind !== 'declaration') {
    await auditor(store, systemClock, cliActor()).record(
      'rollout.event',
      `${event.model}@${event.modelVersion}`,
      {
        seq: r.seq,
        event,
      },
    );
    // A running fleet applies it at once (without Redis, at its next poll).
    await announceChange(loaded.config, 'rollout');
  }
  return r;
}

export async function rolloutCommand(
  sub: string | undefined,
  input: CliInput,
  configFile: string,
  fail: Fail,
): Promise<void> {
  const { values, positionals } = input;
  const loaded = loadCliConfig(configFile);
  const { agreement } = agreementFrom(values.agreement, configFile, fail);
  const store = await openCliStore(loaded, { create: true });
  try {
    if (sub === 'status') {
      const log = await readRolloutLog(store);
      if (input.flags.has('json')) return out(toJson(log));
      const now = systemClock.now();
      const term = versionAsOf(agreement, now)?.terms.cloud;
      const catalog = compileCatalog(loaded.config);
      const latest = stagesNow(log);
      for (const m of catalog.values()) {
        for (const d of m.deployments) {
          const stage = latest.get(`${m.name}@${d.modelVersion}|${d.cloud}`);
          const gate = term ? gateFor(log, m.name, d.modelVersion, d.cloud, term, now) : null;
          out(
            `${`${m.name}@${d.modelVersion}`.padEnd(24)} ${d.key.padEnd(36)} ${(stage?.stage ?? '-').padEnd(8)} ${gate ? (gate.open ? `may serve: ${gate.reason}` : `REFUSED ${gate.code}: ${gate.reason}`) : 'no agreement in force'}`,
          );
        }
      }
      for (const e of log.filter((x) => x.kind === 'waiver'))
        out(
          `waiver #${e.seq}: ${e.model}@${e.modelVersion}: ${e.kind === 'waiver' ? `${e.capability}, partner decision ${e.partnerDecisionRef || '(none)'}` : ''}`,
        );
      return;
    }
    if (sub === 'promote') {
      const [model, modelVersion, cloud, stage] = positionals;
      if (!model || !modelVersion || !cloud || !stage)
        fail(
          'usage: entente rollout promote MODEL VERSION CLOUD planned|preview|ga|retired [--region R] [--evidence TEXT]',
        );
      const r = await appendAudited(store, agreement, loaded, {
        kind: 'stage',
        model,
        modelVersion,
        cloud,
        region: values.region ?? 'global',
        stage: stage as 'ga',
        evidence: values.evidence ?? '',
        atMs: systemClock.now(),
      });
      if (!r.ok) fail(`refused: ${r.code}: ${r.reason}`, 1);
      out(`recorded as rollout log #${r.seq}: ${model}@${modelVersion} ${stage} on ${cloud}`);
      return;
    }
    if (sub === 'waive') {
      const [model, modelVersion] = positionals;
      if (!model || !modelVersion || !values.capability) {
        fail(
          'usage: entente rollout waive MODEL VERSION --capability TEXT --primary-cannot-support --partner-decision REF',
        );
      }
      const r = await appendAudited(store, agreement, loaded, {
        kind: 'waiver',
        model,
        modelVersion,
        capability: values.capability,
        primaryCannotSupport: input.flags.has('primary-cannot-support'),
        partnerDecisionRef: values['partner-decision'] ?? '',
        atMs: systemClock.now(),
      });
      if (!r.ok) fail(`refused: ${r.code}: ${r.reason}`, 1);
      out(`waiver recorded as rollout log #${r.seq}`);
      return;
    }
    fail(`unknown command 'rollout ${sub ?? ''}'. Try: status, promote, waive`);
  } finally {
    await store.close();
  }
}

export async function routeCommand(
  sub: string | undefined,
  input: CliInput,
  configFile: string,
  fail: Fail,
): Promise<void> {
  if (sub !== 'explain')
    fail(`unknown command 'route ${sub ?? ''}'. Try: route explain --model M [--tenant T] [--at D]`);
  const { values } = input;
  if (!values.model) fail('usage: entente route explain --model M [--tenant T] [--at D] [--json]');
  const loaded = loadCliConfig(configFile);
  const agreementFile = values.agreement ?? loaded.agreementFile;
  const store = await openCliStore(loaded, { create: true });
  const agreement = agreementFile ? preflight(loaded, systemClock.now(), agreementFile).agreement : null;
  try {
    const licensee = values.tenant
      ? (loaded.config.tenants.find((t) => t.id === values.tenant)?.licensee ?? null)
      : null;
    const at = instant(values.at, '--at', fail) ?? systemClock.now();
    const table = compileRouteTable(
      compileCatalog(loaded.config),
      agreement,
      await readRolloutLog(store),
      at,
      licensee ? [licensee] : [],
    );
    if (!table.models.has(values.model))
      fail(
        `model '${values.model}' is not in the catalog of ${loaded.file} (models: ${[...table.models.keys()].join(', ')})`,
        1,
      );
    const e = explainRoute(table, values.model, licensee, values.tenant ?? null);
    out(input.flags.has('json') ? toJson(e) : formatExplanation(e));
  } finally {
    await store.close();
  }
}
