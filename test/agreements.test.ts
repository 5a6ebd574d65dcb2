// The agreement engine: the shipped example, validation with located coded errors, as-of
// (valid time and transaction time), licence decisions under the version valid at t, and the diff.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  type Agreement,
  decideLicence,
  diffVersions,
  loadAgreement,
  parseAgreementText,
  versionAsOf,
} from '../src/agreements/index.js';
import { ConfigError } from '../src/config/index.js';

const examplePath = fileURLToPath(new URL('../../examples/agreement.yaml', import.meta.url));
const exampleText = readFileSync(examplePath, 'utf8');
const example = loadAgreement(examplePath);
const t = (s: string) => Date.parse(s);

test('the shipped example: two versions, the amendment in force from 2026-04-27', () => {
  assert.deepEqual(
    example.versions.map((v) => v.id),
    ['2025-10-definitive', '2026-04-amendment'],
  );
  assert.equal(versionAsOf(example, t('2025-10-27T23:59:59Z')), null);
  assert.equal(versionAsOf(example, t('2025-10-28T00:00:00Z'))?.id, '2025-10-definitive');
  assert.equal(versionAsOf(example, t('2026-04-26T23:59:59.999Z'))?.id, '2025-10-definitive');
  assert.equal(versionAsOf(example, t('2026-04-27T00:00:00Z'))?.id, '2026-04-amendment');
  const share = versionAsOf(example, t('2026-06-01'))!.terms.revenueShares[0]!;
  assert.deepEqual(share.rate, { num: 20n, den: 100n });
  assert.equal(share.cap?.amount, 50_000_000_000n * 1_000_000n, 'money is bigint micro-units');
});

test('licence decisions use the version valid at t', () => {
  const cases: [string, string, string, boolean, string?][] = [
    ['microsoft', 'gpt-4o', '2026-01-01', true],
    ['microsoft', 'gpt-4o', '2032-12-31T23:59:59Z', true],
    ['microsoft', 'gpt-4o', '2033-01-01T00:00:00Z', false, 'licence_expired'],
    ['amazon', 'gpt-4o', '2026-06-01', false, 'not_licensed'],
    ['microsoft', 'gpt-4o', '2020-01-01', false, 'no_agreement_in_force'],
  ];
  for (const [who, model, at, allowed, reason] of cases) {
    const d = decideLicence(example, who, model, t(at));
    assert.equal(d.allowed, allowed, `${who} ${model} ${at}`);
    if (!d.allowed) assert.equal(d.reason, reason);
  }
  const before = decideLicence(example, 'microsoft', 'gpt-4o', t('2026-01-01'));
  const after = decideLicence(example, 'microsoft', 'gpt-4o', t('2026-06-01'));
  assert.ok(before.allowed && after.allowed);
  assert.equal(before.versionId, '2025-10-definitive');
  assert.equal(after.versionId, '2026-04-amendment');
});

test('the diff shows what the April 2026 amendment changed', () => {
  const [oct, apr] = example.versions as [Agreement['versions'][0], Agreement['versions'][0]];
  const changes = diffVersions(oct, apr);
  const find = (path: string) => changes.find((c) => c.path === path);
  assert.deepEqual(find('licences[ms-model-ip].exclusivity'), {
    path: 'licences[ms-model-ip].exclusivity',
    kind: 'changed',
    before: 'exclusive',
    after: 'non-exclusive',
  });
  assert.equal(find('cloud.exclusive')?.after, 'false', 'Azure exclusivity → primary');
  assert.equal(find('cloud.firstDeployment')?.kind, 'added', 'primary first with a waiver path');
  assert.match(find('cloud.firstDeployment')?.after ?? '', /primary-cannot-support, partner-declined/);
  assert.equal(find('revenueShares[openai-to-microsoft].cap')?.kind, 'added', 'the share is now capped');
  assert.equal(find('revenueShares[openai-to-microsoft].milestoneIndependent')?.after, 'true');
  assert.equal(find('revenueShares[openai-to-microsoft].term.to')?.after, '2031-01-01T00:00:00.000Z');
  assert.equal(find('revenueShares[microsoft-to-openai]')?.kind, 'removed');
  assert.equal(diffVersions(apr, apr).length, 0);
});

test('as-of is reproducible after later amendments, and "as known at" sees only what was recorded', () => {
  const amended = parseAgreementText(
    `${exampleText}
  - id: 2027-01-amendment
    kind: amendment
    supersedes: 2026-04-amendment
    validFrom: 2027-01-01T00:00:00Z
    recordedAt: 2026-12-15T00:00:00Z
    terms:
      cloud: { primary: azure }
      licences:
        - { id: ms-model-ip, licensor: openai, licensee: microsoft, subject: models, models: ["*"], term: { from: 2025-10-28T00:00:00Z, to: 2028-01-01T00:00:00Z }, exclusivity: non-exclusive }
`,
    'amended.yaml',
  );
  for (const at of ['2025-11-01', '2026-05-01', '2026-12-31T23:59:59Z']) {
    assert.equal(versionAsOf(amended, t(at))?.id, versionAsOf(example, t(at))?.id, `as of ${at}`);
    assert.deepEqual(
      decideLicence(amended, 'microsoft', 'gpt-4o', t(at)),
      decideLicence(example, 'microsoft', 'gpt-4o', t(at)),
    );
  }
  assert.equal(versionAsOf(amended, t('2027-06-01'))?.id, '2027-01-amendment');
  // Before the amendment was recorded, 2027 was believed to be under the April 2026 terms.
  assert.equal(versionAsOf(amended, t('2027-06-01'), t('2026-12-01'))?.id, '2026-04-amendment');
  assert.equal(decideLicence(amended, 'microsoft', 'gpt-4o', t('2028-02-01')).allowed, false);
});

function findings(text: string): { code?: string; path: string; line: number; message: string }[] {
  try {
    parseAgreementText(text, 'bad.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => ({
      ...(p.code ? { code: p.code } : {}),
      path: p.path,
      line: p.line,
      message: p.message,
    }));
  }
  assert.fail('expected a validation error');
}

test('validation: each rule has a stable code and a located error', () => {
  const unknown = findings(
    exampleText.replace(
      'licensee: microsoft\n          subject: research-ip\n          models: ["*"]\n          term: { from: 2025-10-28T00:00:00Z, to: 2030-01-01T00:00:00Z }   # "until AGI',
      'licensee: msft\n          subject: research-ip\n          models: ["*"]\n          term: { from: 2025-10-28T00:00:00Z, to: 2030-01-01T00:00:00Z }   # "until AGI',
    ),
  );
  assert.equal(unknown[0]?.code, 'unknown_party');
  assert.equal(unknown[0]?.path, 'versions[0].terms.licences[2].licensee');
  assert.equal(
    exampleText.split('\n')[unknown[0]!.line - 1]?.trim(),
    'licensee: microsoft',
    'the line points at the offending value',
  );

  const rate = findings(
    exampleText.replace('rate: "20/100"                # reported, unconfirmed', 'rate: "120/100"   #'),
  );
  assert.equal(rate[0]?.code, 'rate_out_of_range');

  const inverted = findings(
    exampleText.replace(
      'validFrom: 2026-04-27T00:00:00Z',
      'validFrom: 2026-04-27T00:00:00Z\n    validTo: 2026-01-01T00:00:00Z',
    ),
  );
  assert.equal(inverted[0]?.code, 'inverted_interval');

  const overlap = findings(
    exampleText.replace(
      '    recordedAt: 2025-10-28T00:00:00Z\n',
      '    validTo: 2026-06-01T00:00:00Z\n    recordedAt: 2025-10-28T00:00:00Z\n',
    ),
  );
  assert.equal(overlap[0]?.code, 'overlapping_versions');

  const order = findings(
    exampleText.replace('validFrom: 2026-04-27T00:00:00Z', 'validFrom: 2025-01-01T00:00:00Z'),
  );
  assert.equal(order[0]?.code, 'versions_out_of_order');

  const shape = findings(
    exampleText.replace('exclusivity: non-exclusive    # now', 'exclusivity: mostly    # now'),
  );
  assert.equal(shape[0]?.path, 'versions[1].terms.licences[0].exclusivity');
  assert.match(shape[0]!.message, /exclusive/);

  const date = findings(exampleText.replace('validFrom: 2026-04-27T00:00:00Z', 'validFrom: 27/04/2026'));
  assert.match(date[0]!.message, /ISO-8601/);
});

const competing = `
        - id: amazon-models
          licensor: openai
          licensee: amazon
          subject: models
          models: ["gpt-*"]
          term: { from: 2026-06-01T00:00:00Z, to: 2028-01-01T00:00:00Z }
          exclusivity: non-exclusive
`;
const withAmazon = exampleText.replace(
  '  - { id: microsoft, name: Microsoft',
  '  - { id: amazon, name: Amazon, roles: [licensee] }\n  - { id: microsoft, name: Microsoft',
);

test('exclusive grants cannot overlap; non-exclusive ones coexist', () => {
  // A competing licence is valid under the April 2026 amendment (non-exclusive) ...
  const apr = withAmazon.replace(
    '          exclusivity: non-exclusive    # now non-exclusive\n',
    `          exclusivity: non-exclusive    # now non-exclusive\n${competing}`,
  );
  const ok = parseAgreementText(apr, 'ok.yaml');
  assert.equal(decideLicence(ok, 'amazon', 'gpt-4o', t('2026-07-01')).allowed, true);
  assert.equal(decideLicence(ok, 'amazon', 'o4-mini', t('2026-07-01')).allowed, false);
  // ... and conflicts with the exclusive grant of October 2025.
  const oct = withAmazon.replace(
    '          exclusivity: exclusive\n          note: includes post-AGI models\n',
    `          exclusivity: exclusive\n          note: includes post-AGI models\n${competing}`,
  );
  const f = findings(oct);
  assert.equal(f[0]?.code, 'exclusive_overlap');
  assert.equal(f[0]?.path, 'versions[0].terms.licences[1]');
});

test('property: as-of picks the last version started, and never one recorded after knownAt', () => {
  fc.assert(
    fc.property(
      fc
        .uniqueArray(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 6 })
        .map((xs) => xs.sort((a, b) => a - b)),
      fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 6, maxLength: 6 }),
      fc.integer({ min: -10, max: 1100 }),
      fc.integer({ min: 0, max: 1100 }),
      (starts, recorded, at, knownAt) => {
        const day = 86_400_000;
        const a: Agreement = {
          ...example,
          versions: starts.map((s, i) => ({
            ...example.versions[0]!,
            id: `v${i}`,
            validFrom: s * day,
            recordedAt: recorded[i]! * day,
          })),
        };
        const v = versionAsOf(a, at * day, knownAt * day);
        const known = a.versions.filter((x) => x.recordedAt <= knownAt * day && x.validFrom <= at * day);
        assert.equal(v?.id ?? null, known.at(-1)?.id ?? null);
        // Reproducible: adding a version that starts later changes nothing before it.
        const later = {
          ...a,
          versions: [...a.versions, { ...a.versions[0]!, id: 'later', validFrom: 2000 * day, recordedAt: 0 }],
        };
        assert.equal(versionAsOf(later, at * day, knownAt * day)?.id ?? null, v?.id ?? null);
      },
    ),
  );
});
