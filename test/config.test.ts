// Config loading: the shipped example is valid, and a bad file gets located, explained errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, loadConfig, parseConfigText } from '../src/config/index.js';
import { writerNiceOf } from '../src/spool/index.js';

const example = fileURLToPath(new URL('../../examples/entente.yaml', import.meta.url));

test('the shipped example config is valid, frozen, and Azure is primary', () => {
  const { config } = loadConfig(example, {});
  assert.equal(config.routing.primaryCloud, 'azure');
  assert.ok(Object.isFrozen(config) && Object.isFrozen(config.models[0]));
  assert.equal(config.server.bodyLimitBytes, 4 * 1_048_576);
  assert.equal(config.simulators[0]!.port, 18081, 'default sim port');
});

test('environment variables and overrides apply', () => {
  const { config, dataDir } = loadConfig(
    example,
    { ENTENTE_SIM_AZURE_PORT: '0', ENTENTE_DATA_DIR: '/tmp/x' },
    { port: 9999 },
  );
  assert.equal(config.simulators[0]!.port, 0);
  assert.equal(config.server.port, 9999);
  assert.equal(dataDir, '/tmp/x');
});

function problems(text: string, env: NodeJS.ProcessEnv = {}) {
  try {
    parseConfigText(text, 'bad.yaml', env);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  assert.fail('expected a ConfigError');
}

const base = `routing: { primaryCloud: azure }
upstreams:
  - id: az
    provider: azure-openai
    cloud: azure
    baseUrl: https://x.openai.azure.com
    apiVersion: 2024-10-21
models:
  - name: m
    deployments:
      - upstream: az
        deployment: d
        modelVersion: "1"
`;

test('a valid minimal config parses with defaults', () => {
  const c = parseConfigText(base, 'ok.yaml', {});
  assert.equal(c.routing.maxAttempts, 3);
  assert.equal(c.upstreams[0]!.azurePathStyle, 'deployments');
});

test('errors name the file, line, column and path', () => {
  const p = problems(base.replace('upstream: az', 'upstream: nowhere'));
  assert.equal(p.length, 1);
  assert.equal(p[0]!.path, 'models[0].deployments[0].upstream');
  assert.equal(p[0]!.line, 11);
  assert.match(p[0]!.message, /unknown upstream 'nowhere'/);
  assert.match(new ConfigError(p).message, /bad\.yaml:11:\d+ models\[0\]\.deployments\[0\]\.upstream/);
});

test('wrong types, unknown keys, YAML syntax, missing env vars, bad cross-references', () => {
  assert.match(
    problems(base.replace('provider: azure-openai', 'provider: azure'))[0]!.message,
    /azure-openai/,
  );
  assert.equal(problems(`${base}typo: 1\n`)[0]!.path, '');
  assert.match(problems(`${base}typo: 1\n`)[0]!.message, /typo/);
  assert.equal(problems('routing: [unclosed\n')[0]!.line, 2);
  assert.match(
    problems(base.replace('https://x.openai.azure.com', ['$', '{AZ_URL}'].join('')))[0]!.message,
    /AZ_URL/,
  );
  assert.match(
    problems(base.replace('primaryCloud: azure', 'primaryCloud: gcp'))[0]!.message,
    /no upstream is on cloud 'gcp'/,
  );
  assert.match(problems(base.replace('    apiVersion: 2024-10-21\n', ''))[0]!.message, /apiVersion/);
  assert.match(
    problems(base.replace('baseUrl: https://x.openai.azure.com', 'baseUrl: sim://nope'))[0]!.message,
    /no simulator 'nope'/,
  );
});

test('usage.writerNice: 0 to 19, else refused; unset, 5 (0 with durability os)', () => {
  const usage = (yaml: string) => parseConfigText(`${base}usage: ${yaml}\n`, 'ok.yaml', {}).usage;
  assert.equal(writerNiceOf(usage('{}')), 5);
  assert.equal(writerNiceOf(usage('{ durability: os }')), 0);
  assert.equal(writerNiceOf(usage('{ durability: os, writerNice: 3 }')), 3);
  assert.equal(writerNiceOf(usage('{ writerNice: 0 }')), 0);
  assert.equal(writerNiceOf(usage('{ writerNice: 19 }')), 19);
  for (const bad of ['-1', '20', '1.5', '"5"', 'null', 'true', '[5]', '1e3']) {
    const p = problems(`${base}usage: { writerNice: ${bad} }\n`);
    assert.equal(p.length, 1, bad);
    assert.equal(p[0]!.path, 'usage.writerNice', bad);
  }
});
