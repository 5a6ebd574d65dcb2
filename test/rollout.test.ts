// The first-deployment rule: table tests over the gate, a property over random rollout logs with
// skewed clocks, and concurrent promotions against real stores (SQLite, PostgreSQL).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { type CloudTerm, loadAgreement, versionAsOf } from '../src/agreements/index.js';
import { systemClock } from '../src/clock/index.js';
import {
  appendRolloutEvent,
  checkEvent,
  gateFor,
  type NewRolloutEvent,
  type RolloutEvent,
  readRolloutLog,
  type StageEvent,
  type WaiverEvent,
} from '../src/rollout/index.js';
import { backends } from './helpers/backends.js';

const example = loadAgreement(fileURLToPath(new URL('../../examples/agreement.yaml', import.meta.url)));
const AMENDED = Date.parse('2026-06-01');
const amendedTerm = versionAsOf(example, AMENDED)!.terms.cloud;
const octTerm = versionAsOf(example, Date.parse('2026-01-01'))!.terms.cloud;
const soakTerm: CloudTerm = {
  ...amendedTerm,
  firstDeployment: { ...amendedTerm.firstDeployment!, minSoakHours: 24 },
};
const H = 3_600_000;

const stage = (cloud: string, st: 'ga' | 'preview' | 'retired', atMs: number): StageEvent => ({
  kind: 'stage',
  model: 'gpt-6',
  modelVersion: 'v1',
  cloud,
  region: 'r',
  stage: st,
  evidence: '',
  atMs,
});
const waiver = (cannot: boolean, decision: string, atMs: number): WaiverEvent => ({
  kind: 'waiver',
  model: 'gpt-6',
  modelVersion: 'v1',
  capability: 'fp4 inference',
  primaryCannotSupport: cannot,
  partnerDecisionRef: decision,
  atMs,
});
const logOf = (...events: NewRolloutEvent[]): RolloutEvent[] => events.map((e, i) => ({ ...e, seq: i + 1 }));

test('gate table: primary first, soak, waivers, exclusivity, retirement', () => {
  const T = AMENDED;
  const rows: [string, RolloutEvent[], CloudTerm, string, number, boolean, string?][] = [
    ['the primary always may', [], amendedTerm, 'azure', T, true],
    ['empty log: refused', [], amendedTerm, 'bedrock', T, false, 'not_yet_deployed_on_primary'],
    [
      'preview on primary is not GA',
      logOf(stage('azure', 'preview', T)),
      amendedTerm,
      'bedrock',
      T,
      false,
      'not_yet_deployed_on_primary',
    ],
    ['GA on primary opens it', logOf(stage('azure', 'ga', T)), amendedTerm, 'bedrock', T, true],
    [
      'soak not elapsed',
      logOf(stage('azure', 'ga', T)),
      soakTerm,
      'bedrock',
      T + 23 * H,
      false,
      'soak_not_elapsed',
    ],
    ['soak elapsed', logOf(stage('azure', 'ga', T)), soakTerm, 'bedrock', T + 24 * H, true],
    ['complete waiver opens it', logOf(waiver(true, 'MS-DEC-7', T)), amendedTerm, 'vertex', T, true],
    [
      'waiver without the partner decision',
      logOf(waiver(true, '', T)),
      amendedTerm,
      'vertex',
      T,
      false,
      'waiver_incomplete',
    ],
    [
      'waiver without the capability gap',
      logOf(waiver(false, 'MS-DEC-7', T)),
      amendedTerm,
      'vertex',
      T,
      false,
      'waiver_incomplete',
    ],
    [
      'waiver beats an unfinished soak',
      logOf(stage('azure', 'ga', T), waiver(true, 'D', T)),
      soakTerm,
      'bedrock',
      T + H,
      true,
    ],
    [
      'Oct 2025: Azure exclusive',
      logOf(stage('azure', 'ga', T)),
      octTerm,
      'bedrock',
      T,
      false,
      'cloud_not_permitted',
    ],
    [
      'retired on that cloud',
      logOf(stage('azure', 'ga', T), stage('bedrock', 'retired', T)),
      amendedTerm,
      'bedrock',
      T,
      false,
      'retired',
    ],
    [
      'permitted list excludes it',
      logOf(stage('azure', 'ga', T)),
      { ...amendedTerm, permittedClouds: ['bedrock'] },
      'vertex',
      T,
      false,
      'cloud_not_permitted',
    ],
  ];
  for (const [name, log, term, cloud, at, open, code] of rows) {
    const g = gateFor(log, 'gpt-6', 'v1', cloud, term, at);
    assert.equal(g.open, open, name);
    if (!g.open) assert.equal(g.code, code, name);
  }
});

test('order is decided by the log, not by clocks', () => {
  // Bedrock's clock runs an hour ahead: its GA carries an earlier timestamp than Azure's, but it
  // comes later in the log, so it is allowed.
  const log = logOf(stage('azure', 'ga', AMENDED + 2 * H));
  assert.equal(checkEvent(log, stage('bedrock', 'ga', AMENDED + H), amendedTerm), null);
  // The other way round: a GA recorded before the primary's in the log is refused, however late
  // its timestamp.
  assert.equal(
    checkEvent([], stage('bedrock', 'ga', AMENDED + 10 * H), amendedTerm)?.code,
    'not_yet_deployed_on_primary',
  );
  // And a waiver recorded after the promotion does not make it earlier.
  const g = gateFor(
    logOf(stage('bedrock', 'ga', AMENDED), waiver(true, 'D', AMENDED - H)),
    'gpt-6',
    'v1',
    'bedrock',
    amendedTerm,
    AMENDED,
    1,
  );
  assert.equal(g.open, false);
});

/** The invariant: every non-primary GA has a primary GA (or complete waiver) earlier in the log. */
function assertPrimaryFirst(log: readonly RolloutEvent[], term: CloudTerm): void {
  for (const e of log) {
    if (e.kind !== 'stage' || e.stage !== 'ga' || e.cloud === term.primary) continue;
    const earlier = log.filter(
      (x) =>
        x.seq < e.seq && x.kind !== 'declaration' && x.model === e.model && x.modelVersion === e.modelVersion,
    );
    const primaryGa = earlier.find((x) => x.kind === 'stage' && x.cloud === term.primary && x.stage === 'ga');
    const waived = earlier.some(
      (x) => x.kind === 'waiver' && x.primaryCannotSupport && x.partnerDecisionRef !== '',
    );
    const soakH = term.firstDeployment?.minSoakHours ?? 0;
    // Order decides; time matters only where a soak is required.
    const soakOk = primaryGa !== undefined && (soakH === 0 || e.atMs >= primaryGa.atMs + soakH * H);
    assert.ok(waived || soakOk, `log #${e.seq}: ${e.cloud} GA without the primary first`);
  }
}

const eventArb = fc.oneof(
  fc.record({
    kind: fc.constant('stage' as const),
    model: fc.constantFrom('m1', 'm2'),
    modelVersion: fc.constant('v1'),
    cloud: fc.constantFrom('azure', 'bedrock', 'vertex'),
    region: fc.constant('r'),
    stage: fc.constantFrom('planned' as const, 'preview' as const, 'ga' as const, 'retired' as const),
    evidence: fc.constant(''),
    atMs: fc.integer({ min: AMENDED, max: AMENDED + 72 * H }), // skewed, unordered clocks
  }),
  fc.record({
    kind: fc.constant('waiver' as const),
    model: fc.constantFrom('m1', 'm2'),
    modelVersion: fc.constant('v1'),
    capability: fc.constant('x'),
    primaryCannotSupport: fc.boolean(),
    partnerDecisionRef: fc.constantFrom('', 'MS-1'),
    atMs: fc.integer({ min: AMENDED, max: AMENDED + 72 * H }),
  }),
);

test('property: any sequence of attempted events, filtered by the rule, keeps primary first', () => {
  fc.assert(
    fc.property(
      fc.array(eventArb, { maxLength: 40 }),
      fc.constantFrom(amendedTerm, soakTerm),
      (attempts, term) => {
        const log: RolloutEvent[] = [];
        for (const e of attempts)
          if (checkEvent(log, e, term) === null) log.push({ ...e, seq: log.length + 1 });
        assertPrimaryFirst(log, term);
        // And nothing the rule allows is refused: a non-primary GA right after a primary GA passes
        // (with the soak elapsed).
        const primary = log.find(
          (x): x is RolloutEvent & StageEvent =>
            x.kind === 'stage' && x.cloud === 'azure' && x.stage === 'ga',
        );
        if (primary) {
          const next = {
            ...stage('bedrock', 'ga', primary.atMs + (term.firstDeployment?.minSoakHours ?? 0) * H),
            model: primary.model,
          };
          assert.equal(checkEvent(log, next, term), null);
        }
      },
    ),
    { numRuns: 300 },
  );
});

for (const s of backends('rollout')) {
  describe(`rollout log on ${s.name}`, { skip: s.skip }, () => {
    test('concurrent promotions are judged in log order; the stored log keeps primary first', async () => {
      const store = await s.open({ maxConnections: 16 });
      try {
        const now = systemClock.now() - 1000;
        // Many racing promotions of other clouds, and one of the primary, for several versions.
        const attempts: Promise<unknown>[] = [];
        for (let v = 0; v < 4; v++) {
          for (let i = 0; i < 12; i++) {
            const cloud = i === 6 ? 'azure' : i % 2 ? 'bedrock' : 'vertex';
            attempts.push(
              appendRolloutEvent(store, example, {
                ...stage(cloud, 'ga', now),
                model: 'race',
                modelVersion: `v${v}`,
              }),
            );
          }
        }
        const results = (await Promise.all(attempts)) as { ok: boolean; code?: string }[];
        const log = await readRolloutLog(store);
        assert.equal(log.length, results.filter((r) => r.ok).length);
        assert.ok(
          results.some((r) => !r.ok && r.code === 'not_yet_deployed_on_primary'),
          'some promotions raced ahead of the primary and were refused',
        );
        assert.equal(log.filter((e) => e.kind === 'stage' && e.cloud === 'azure').length, 4);
        assertPrimaryFirst(log, versionAsOf(example, now)!.terms.cloud);
      } finally {
        await store.close();
        await s.cleanup();
      }
    });
  });
}
