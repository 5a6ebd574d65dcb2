// The agreement deciding live traffic, judged by the official openai SDK through the gateway:
// the first-deployment rule, waivers, a licence ending without a restart, and hot reloads of the
// agreement file and the rollout log.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { loadAgreement } from '../src/agreements/index.js';
import { ManualClock } from '../src/clock/index.js';
import { appendRolloutEvent } from '../src/rollout/index.js';
import { countCalls, nextTurn } from './helpers/count-calls.js';
import { eventually as until } from './helpers/eventually.js';
import { DEMO_KEY, type Stack, startStack } from './helpers/stack.js';

const ADMIN_KEY = 'sk-test-admin';
const MS_KEY = 'sk-test-microsoft';
const sha = (k: string) => createHash('sha256').update(k).digest('hex');
const exampleText = readFileSync(
  fileURLToPath(new URL('../../examples/agreement.yaml', import.meta.url)),
  'utf8',
);

let stack: Stack;
let client: OpenAI;
let microsoft: OpenAI;
let agreementFile: string;
// The gateway runs on a clock the test moves: the licence ends when the test says, not in real time.
const clock = new ManualClock(Date.UTC(2026, 10, 1, 12));
const licenceEndsAt = new Date(clock.now() + 10_000);
const POLL_MS = 100;

async function admin(method: string, path: string, body?: unknown) {
  const r = await fetch(`${stack.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return {
    status: r.status,
    json: (await r.json()) as Record<string, unknown> & { error?: { code: string; message: string } },
  };
}

/**
 * Moves the gateway's clock by one poll interval so that its poll runs, and waits until the
 * assertion holds (moving the clock again now and then, should a poll have been in progress).
 */
async function eventually(check: () => unknown): Promise<void> {
  let tries = 0;
  await until(async () => {
    if (tries++ % 25 === 0) clock.advance(POLL_MS);
    await check();
    return true;
  }, 'the gateway to pick up the change');
}

const ask = (model: string, c: OpenAI = client) =>
  c.chat.completions.create({ model, messages: [{ role: 'user', content: 'hi' }] }).withResponse();

describe('the agreement decides live traffic', () => {
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'entente-agreement-'));
    agreementFile = join(dir, 'agreement.yaml');
    // The example, with Microsoft's model licence ending a few seconds from now.
    writeFileSync(
      agreementFile,
      exampleText.replaceAll(
        'to: 2033-01-01T00:00:00Z }   # through 2032',
        `to: ${licenceEndsAt.toISOString()} }   #`,
      ),
    );
    const agreement = loadAgreement(agreementFile);
    stack = await startStack({
      server: `  adminKeySha256: ${sha(ADMIN_KEY)}`,
      extraYaml: `agreement: { file: ${agreementFile}, pollMs: ${POLL_MS} }`,
      clock,
      agreementFile,
      tenantsYaml: `  - id: microsoft\n    licensee: microsoft\n    keys: [{ id: ms-key, sha256: ${sha(MS_KEY)} }]`,
      modelsYaml: [
        '  - name: gpt-5',
        '    ownedBy: openai',
        '    deployments:',
        '      - { upstream: azure-eastus, deployment: gpt-5-preview, modelVersion: "2026-11-01" }',
        '      - { upstream: openai, deployment: gpt-5-2026-11-01, modelVersion: "2026-11-01" }',
        '  - name: gpt-5-pro',
        '    ownedBy: openai',
        '    deployments:',
        '      - { upstream: azure-eastus, deployment: gpt-5-pro, modelVersion: "p1" }',
        '      - { upstream: openai, deployment: gpt-5-pro-p1, modelVersion: "p1" }',
        '  - name: gpt-5-mini',
        '    ownedBy: openai',
        '    deployments:',
        '      - { upstream: azure-eastus, deployment: gpt-5-mini, modelVersion: "m1" }',
        '      - { upstream: openai, deployment: gpt-5-mini-m1, modelVersion: "m1" }',
        '  - name: gpt-5-nano',
        '    ownedBy: openai',
        '    deployments:',
        '      - { upstream: azure-eastus, deployment: gpt-5-nano, modelVersion: "n1" }',
        '      - { upstream: openai, deployment: gpt-5-nano-n1, modelVersion: "n1" }',
      ].join('\n'),
      beforeStart: async (store) => {
        for (const model of [
          ['gpt-4o', '2024-11-20'],
          ['gpt-4o-mini', '2024-07-18'],
        ] as const) {
          const r = await appendRolloutEvent(store, agreement, {
            kind: 'stage',
            model: model[0],
            modelVersion: model[1],
            cloud: 'azure',
            region: 'eastus',
            stage: 'ga',
            evidence: 'test seed',
            atMs: clock.now(),
          });
          assert.ok(r.ok);
        }
      },
    });
    client = new OpenAI({ baseURL: stack.baseURL, apiKey: DEMO_KEY, maxRetries: 0 });
    microsoft = new OpenAI({ baseURL: stack.baseURL, apiKey: MS_KEY, maxRetries: 0 });
  });
  after(() => stack.close());
  beforeEach(() => {
    stack.azure.setFault(null);
    for (const k of ['azure-eastus/gpt-5-preview', 'azure-eastus/gpt-5-pro', 'azure-eastus/gpt-4o-prod'])
      stack.gateway.context.health.success(k);
  });

  test('a new model version is refused on a non-primary cloud until it is GA on Azure, then served there when Azure fails', async () => {
    const explain = await admin('GET', '/v1/entente/route?model=gpt-5');
    assert.equal(explain.status, 200);
    assert.equal(explain.json.agreementVersion, '2026-04-amendment');
    assert.deepEqual(
      (explain.json.excluded as { deployment: string; code: string }[]).map((x) => [x.deployment, x.code]),
      [['openai/gpt-5-2026-11-01', 'not_yet_deployed_on_primary']],
    );

    stack.azure.setFault({ kind: 'server_error' });
    const openaiBefore = stack.openai.requests.length;
    await assert.rejects(ask('gpt-5'), (err: unknown) => {
      assert.ok(err instanceof OpenAI.APIError);
      assert.equal(err.status, 502);
      assert.match(
        err.message,
        /Not eligible under the agreement: openai\/gpt-5-2026-11-01: first-deployment rule/,
      );
      return true;
    });
    assert.equal(stack.openai.requests.length, openaiBefore, 'OpenAI never saw the request');

    const early = await admin('POST', '/v1/entente/rollout/events', {
      kind: 'stage',
      model: 'gpt-5',
      modelVersion: '2026-11-01',
      cloud: 'openai',
      stage: 'ga',
    });
    assert.equal(early.status, 409);
    assert.equal(early.json.error?.code, 'not_yet_deployed_on_primary');

    const primary = await admin('POST', '/v1/entente/rollout/events', {
      kind: 'stage',
      model: 'gpt-5',
      modelVersion: '2026-11-01',
      cloud: 'azure',
      region: 'eastus',
      stage: 'ga',
      evidence: 'launch',
    });
    assert.equal(primary.status, 201);
    const { response, data } = await ask('gpt-5');
    assert.equal(
      response.headers.get('x-entente-cloud'),
      'openai',
      'served by the next cloud once Azure is GA',
    );
    assert.equal(data.choices[0]!.message.content, 'Simulated reply from openai/gpt-5-2026-11-01: hi');
  });

  test('a waiver recorded earlier opens another cloud; an incomplete one does not', async () => {
    stack.azure.setFault({ kind: 'server_error' });
    const incomplete = await admin('POST', '/v1/entente/rollout/events', {
      kind: 'waiver',
      model: 'gpt-5-pro',
      modelVersion: 'p1',
      capability: 'fp4 kernels',
      primaryCannotSupport: true,
      partnerDecisionRef: '',
    });
    assert.equal(incomplete.status, 201, 'the waiver is recorded, but it does not meet the agreement');
    await assert.rejects(ask('gpt-5-pro'), OpenAI.APIError);
    const route = await admin('GET', '/v1/entente/route?model=gpt-5-pro');
    assert.equal((route.json.excluded as { code: string }[])[0]?.code, 'waiver_incomplete');

    const waiver = await admin('POST', '/v1/entente/rollout/events', {
      kind: 'waiver',
      model: 'gpt-5-pro',
      modelVersion: 'p1',
      capability: 'fp4 kernels',
      primaryCannotSupport: true,
      partnerDecisionRef: 'MSFT-2026-117',
    });
    assert.equal(waiver.status, 201);
    const { response } = await ask('gpt-5-pro');
    assert.equal(response.headers.get('x-entente-cloud'), 'openai');
  });

  test('a rollout event written by another process is picked up without a restart; polls of an unchanged log read none of it', async () => {
    const excluded = async () =>
      ((await admin('GET', '/v1/entente/route?model=gpt-5-mini')).json.excluded as unknown[]).length;
    assert.equal(await excluded(), 1);
    const reads = countCalls(stack.store, 'listRolloutEvents');
    for (let i = 0; i < 20; i++) {
      clock.advance(POLL_MS);
      await nextTurn();
    }
    reads.restore();
    assert.equal(reads.count, 0, 'twenty polls of an unchanged rollout log read no event');
    const held = (await stack.store.listRolloutEvents()).length;
    assert.ok(held >= 2);
    const pickups = countCalls(stack.store, 'listRolloutEvents');
    // Written straight to the shared store, as `entente rollout promote` on another node does.
    const r = await appendRolloutEvent(stack.store, loadAgreement(agreementFile), {
      kind: 'stage',
      model: 'gpt-5-mini',
      modelVersion: 'm1',
      cloud: 'azure',
      region: 'eastus',
      stage: 'ga',
      evidence: 'cli',
      atMs: clock.now(),
    });
    assert.ok(r.ok);
    await eventually(async () => assert.equal(await excluded(), 0));
    pickups.restore();
    // The node read the one new event, not the log it already held.
    const read = pickups.results as { seq: number }[][];
    assert.ok(
      read.some((events) => events.length === 1 && events[0]!.seq === r.seq),
      `reads of ${JSON.stringify(read.map((e) => e.map((x) => x.seq)))}, the new event ${r.seq}`,
    );
    assert.ok(
      read.every((events) => events.length <= 1),
      `reads of ${read.map((e) => e.length)} events`,
    );
  });

  test("a licensee's key is refused after its term ends, at that instant, without a restart", async () => {
    const before = await ask('gpt-4o', microsoft);
    assert.equal(before.response.status, 200);
    // The route table's own timer fires at the term boundary: no poll, no restart.
    clock.set(licenceEndsAt.getTime() + 1);
    await assert.rejects(ask('gpt-4o', microsoft), (err: unknown) => {
      assert.ok(err instanceof OpenAI.PermissionDeniedError);
      assert.equal(err.code, 'licence_expired');
      assert.match(err.message, /licence 'ms-model-ip' \(agreement version 2026-04-amendment\)/);
      return true;
    });
    const models = await microsoft.models.list();
    assert.equal(models.data.length, 0, 'no model is listed for an expired licensee');
    // First-party traffic is not licence-gated.
    assert.equal((await ask('gpt-4o')).response.status, 200);
  });

  test('an invalid agreement edit is rejected and the old table keeps serving; a valid edit takes effect', async () => {
    const good = readFileSync(agreementFile, 'utf8');
    writeFileSync(
      agreementFile,
      good.replace('primary: azure                  # Azure stays', 'primary: [oops]   #'),
    );
    const live = stack.gateway.context.routes;
    const rejected = live.rejectedEdits;
    await eventually(() =>
      assert.equal(live.rejectedEdits, rejected + 1, 'the invalid edit was seen and rejected'),
    );
    assert.equal(
      (await admin('GET', '/v1/entente/route?model=gpt-5')).json.agreementVersion,
      '2026-04-amendment',
    );
    assert.equal((await ask('gpt-4o')).response.headers.get('x-entente-cloud'), 'azure');
    // Valid: back to Azure exclusivity, so OpenAI may serve nothing.
    writeFileSync(
      agreementFile,
      good
        .replace('exclusive: false', 'exclusive: true')
        .replace('permittedClouds: any            # OpenAI may serve its products on any cloud', ''),
    );
    await eventually(async () => {
      const route = await admin('GET', '/v1/entente/route?model=gpt-5');
      assert.equal((route.json.excluded as { code: string }[])[0]?.code, 'cloud_not_permitted');
    });
    await assert.rejects(ask('gpt-4o-mini'), (err: unknown) => {
      assert.ok(err instanceof OpenAI.PermissionDeniedError);
      assert.equal(err.code, 'cloud_not_permitted');
      return true;
    });
    writeFileSync(agreementFile, good);
  });

  test('the admin API needs the admin key and answers as-of and diff questions', async () => {
    const r = await fetch(`${stack.url}/v1/entente/route?model=gpt-4o`, {
      headers: { authorization: `Bearer ${DEMO_KEY}` },
    });
    assert.equal(r.status, 401);
    const asOf = await admin('GET', '/v1/entente/agreement?as_of=2026-01-01T00:00:00Z');
    assert.equal((asOf.json.inForce as { id: string }).id, '2025-10-definitive');
    const diff = await admin(
      'GET',
      '/v1/entente/agreement/diff?from=2025-10-definitive&to=2026-04-amendment',
    );
    assert.ok(
      (diff.json.changes as { path: string }[]).some((c) => c.path === 'licences[ms-model-ip].exclusivity'),
    );
    const bad = await fetch(`${stack.url}/v1/entente/agreement/validate?file=proposed.yaml`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
      body: exampleText.replace('rate: "20/100"                # reported, unconfirmed', 'rate: "3/2"   #'),
    });
    assert.equal(bad.status, 422);
    const body = (await bad.json()) as { problems: { code: string; file: string; line: number }[] };
    assert.equal(body.problems[0]?.code, 'rate_out_of_range');
    assert.equal(body.problems[0]?.file, 'proposed.yaml');
    assert.ok(body.problems[0]!.line > 1);
  });

  test('rollout events are dated by the server; past events are imported, audited, and cannot skip the soak', async () => {
    const backdated = await admin('POST', '/v1/entente/rollout/events', {
      kind: 'stage',
      model: 'gpt-5-nano',
      modelVersion: 'n1',
      cloud: 'azure',
      stage: 'ga',
      atMs: clock.now() - 86_400_000,
    });
    assert.equal(backdated.status, 400);
    assert.equal(backdated.json.error?.code, 'invalid_request');
    assert.match(backdated.json.error?.message ?? '', /atMs is set by the server.*rollout\/import/);

    // A 24 h soak; a primary GA "from two days ago" imported now still waits the full soak.
    const good = readFileSync(agreementFile, 'utf8');
    writeFileSync(
      agreementFile,
      good.replace('minSoakHours: 0               # ILLUSTRATIVE', 'minSoakHours: 24'),
    );
    await eventually(async () => {
      const a = await admin('GET', '/v1/entente/agreement');
      const term = (a.json.inForce as { terms: { cloud: { firstDeployment: { minSoakHours: number } } } })
        .terms;
      assert.equal(term.cloud.firstDeployment.minSoakHours, 24);
    });
    const occurredAt = new Date(clock.now() - 2 * 86_400_000).toISOString();
    const future = await admin('POST', '/v1/entente/rollout/import', {
      source: 'legacy-tracker',
      events: [
        {
          kind: 'stage',
          model: 'gpt-5-nano',
          modelVersion: 'n1',
          cloud: 'azure',
          stage: 'ga',
          occurredAt: '2099-01-01T00:00:00Z',
        },
      ],
    });
    assert.equal(future.status, 400, 'an event from the future is not history');
    const imported = await admin('POST', '/v1/entente/rollout/import', {
      source: 'legacy-tracker',
      events: [
        {
          kind: 'stage',
          model: 'gpt-5-nano',
          modelVersion: 'n1',
          cloud: 'azure',
          region: 'eastus',
          stage: 'ga',
          occurredAt,
        },
      ],
    });
    assert.equal(imported.status, 201);
    const log = (await admin('GET', '/v1/entente/rollout')).json.events as {
      model?: string;
      atMs: number;
      occurredAtMs?: number;
      importedFrom?: string;
    }[];
    const e = log.find((x) => x.model === 'gpt-5-nano')!;
    assert.equal(e.atMs, clock.now(), 'dated by the server');
    assert.equal(e.occurredAtMs, Date.parse(occurredAt));
    assert.equal(e.importedFrom, 'legacy-tracker');
    const route = await admin('GET', '/v1/entente/route?model=gpt-5-nano');
    assert.deepEqual(
      (route.json.excluded as { code: string }[]).map((x) => x.code),
      ['soak_not_elapsed'],
      'the soak counts from the import, not from the claimed time',
    );
    const audit = await admin('GET', '/v1/entente/audit?action=rollout.import');
    const entry = (audit.json.entries as { actor: string; subject: string; atMs: number }[])[0]!;
    assert.equal(entry.subject, 'gpt-5-nano@n1');
    assert.equal(entry.actor, `admin:${sha(ADMIN_KEY).slice(0, 12)}`);
    assert.equal(entry.atMs, clock.now());
    writeFileSync(agreementFile, good);
    await eventually(async () => {
      const r = await admin('GET', '/v1/entente/route?model=gpt-5-nano');
      assert.equal((r.json.excluded as unknown[]).length, 0);
    });
  });

  test('an AGI declaration is entered once, with the panel’s record, admin-only and audited', async () => {
    const noRecord = await admin('POST', '/v1/entente/declarations', { declaration: 'agi-verified' });
    assert.equal(noRecord.status, 400);
    const tenant = await fetch(`${stack.url}/v1/entente/declarations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ declaration: 'agi-verified', panelRecordRef: 'x' }),
    });
    assert.equal(tenant.status, 401);
    const first = await admin('POST', '/v1/entente/declarations', {
      declaration: 'agi-verified',
      panelRecordRef: 'expert-panel/2026-11-01',
    });
    assert.equal(first.status, 201);
    assert.equal(first.json.atMs, clock.now());
    const again = await admin('POST', '/v1/entente/declarations', {
      declaration: 'agi-verified',
      panelRecordRef: 'expert-panel/2026-11-02',
    });
    assert.equal(again.status, 409);
    assert.equal(again.json.error?.code, 'declaration_exists');
    const audit = await admin('GET', '/v1/entente/audit?action=declaration.agi');
    assert.equal((audit.json.entries as unknown[]).length, 1);
  });
});
