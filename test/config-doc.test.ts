// The configuration reference is the schema's: docs/config.md and the field meanings that
// `entente config explain` prints are regenerated here from src/config/schema.ts and must equal
// the committed files (regenerate: npm run docs:config). Every field has a meaning. The CLI's
// `config explain` answers for a field, a prefix and a typo.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { extractFieldDocs } from '../scripts/gen-config-docs.js';
import { FIELD_DOCS } from '../src/config/field-docs.js';
import { configReference, renderConfigReference } from '../src/config/index.js';

const ROOT = join(import.meta.dirname, '..', '..');
const entente = (...args: string[]) =>
  spawnSync(process.execPath, [join(ROOT, 'bin/entente.js'), ...args], { encoding: 'utf8', cwd: ROOT });

test('docs/config.md and the field meanings are generated from the schema (npm run docs:config)', () => {
  assert.deepEqual(FIELD_DOCS, extractFieldDocs(), 'src/config/field-docs.ts is stale: npm run docs:config');
  assert.equal(
    readFileSync(join(ROOT, 'docs/config.md'), 'utf8'),
    renderConfigReference(configReference(extractFieldDocs())),
    'docs/config.md is stale: npm run docs:config',
  );
});

test('every field of the config has a meaning, a type, and its default with the unit its name carries', () => {
  const fields = configReference();
  assert.ok(fields.length > 100);
  assert.deepEqual(
    fields.filter((f) => !f.description).map((f) => f.path),
    [],
  );
  const byPath = new Map(fields.map((f) => [f.path, f]));
  assert.equal(byPath.get('server.port')?.default, '8080');
  assert.equal(byPath.get('server.streamMaxDurationMs')?.default, '600000 (10 min)');
  assert.equal(byPath.get('server.bodyLimitBytes')?.default, '4194304 (4 MiB)');
  assert.equal(byPath.get('routing.primaryCloud')?.required, true);
  assert.equal(byPath.get('usage.durability')?.type, '"process" | "os"');
  assert.ok(byPath.has('upstreams[].auth.apiKeyEnv'), 'the fields of each shape of a union');
  assert.ok(byPath.has('capacity.pools[].spilloverDeployment'));
});

test('entente config explain: a field, a prefix, JSON, and a typo with its suggestion', () => {
  const one = entente('config', 'explain', 'usage.fsyncIntervalMs');
  assert.equal(one.status, 0, one.stderr);
  assert.match(one.stdout, /^usage\.fsyncIntervalMs\n {2}type: {5}number\n {2}default: {2}5 \(5 ms\)/);
  assert.match(one.stdout, /applies: {2}on restart/);
  assert.match(one.stdout, /Group commit/);
  const prefix = entente('config', 'explain', 'cluster', '--json');
  assert.equal(prefix.status, 0, prefix.stderr);
  const paths = (JSON.parse(prefix.stdout) as { path: string }[]).map((f) => f.path);
  assert.deepEqual(paths, [
    'cluster',
    'cluster.redisUrl',
    'cluster.namespace',
    'cluster.nodeId',
    'cluster.heartbeatMs',
    'cluster.probeGraceMs',
  ]);
  const typo = entente('config', 'explain', 'server.prot');
  assert.equal(typo.status, 1);
  assert.match(
    typo.stderr,
    /^entente: \[cli_usage\] no config field 'server\.prot'; did you mean server\.port\?/m,
  );
  assert.doesNotMatch(typo.stderr, /\n\s+at /);
});
