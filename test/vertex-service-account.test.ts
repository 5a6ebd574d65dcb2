// Vertex with a Google service-account key: the gateway signs an RS256 JWT, exchanges it at the
// key's token_uri (the simulator checks the signature with the public key, the audience, the
// scope and the lifetime), sends the access token, and refreshes it before it expires.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { type CloudSimulator, startGoogleSimulator } from '../sim/index.js';
import { ManualClock } from '../src/clock/index.js';
import { eventually } from './helpers/eventually.js';
import { startGatewayFromYaml, type TestGateway } from './helpers/gateway.js';
import { sha } from './helpers/stack.js';

const KEY = 'sk-test-vertex-sa';

describe('Vertex with a service-account key', () => {
  let sim: CloudSimulator;
  let gw: TestGateway;
  let client: OpenAI;
  const dir = mkdtempSync(join(tmpdir(), 'entente-sa-'));
  const keyPair = () =>
    generateKeyPairSync('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
  const good = keyPair();
  const email = 'entente@my-proj.iam.gserviceaccount.com';
  // One clock for the gateway and the simulated Google: token lifetimes pass when the test says.
  const clock = new ManualClock(Date.UTC(2026, 5, 1));

  before(async () => {
    sim = await startGoogleSimulator({ clock });
    sim.settings.serviceAccountPublicKey = good.publicKey;
    sim.settings.tokenLifetimeS = 2;
    const write = (name: string, privateKey: string) => {
      const file = join(dir, name);
      writeFileSync(
        file,
        JSON.stringify({
          type: 'service_account',
          project_id: 'my-proj',
          private_key_id: 'k1',
          private_key: privateKey,
          client_email: email,
          token_uri: `${sim.url}/token`,
        }),
      );
      return file;
    };
    const goodFile = write('good.json', good.privateKey);
    const badFile = write('bad.json', keyPair().privateKey);
    gw = await startGatewayFromYaml(
      `
server: { host: 127.0.0.1, port: 0 }
routing: { primaryCloud: gcp, maxAttempts: 2 }
upstreams:
  - { id: vertex, provider: vertex, cloud: gcp, region: us-central1, project: my-proj, baseUrl: "${sim.url}", auth: { googleServiceAccountFile: "${goodFile}" } }
  - { id: vertex-wrong-key, provider: vertex, cloud: gcp, region: us-central1, project: my-proj, baseUrl: "${sim.url}", auth: { googleServiceAccountFile: "${badFile}" } }
models:
  - name: gemini
    deployments: [{ upstream: vertex, deployment: gemini-2.5-pro, modelVersion: "1" }]
  - name: gemini-wrong-key
    deployments: [{ upstream: vertex-wrong-key, deployment: gemini-2.5-pro, modelVersion: "1" }]
tenants:
  - id: t
    keys: [{ id: k, sha256: ${sha(KEY)}, models: ["*"] }]
`,
      dir,
      { clock },
    );
    client = new OpenAI({ baseURL: gw.baseURL, apiKey: KEY, maxRetries: 0 });
  });
  after(async () => {
    await gw.close();
    await sim.close();
  });

  const lastBearer = () =>
    String(sim.requests.filter((r) => r.deployment !== null).at(-1)!.headers.authorization);

  test('the token is minted from a signed JWT and sent as the bearer', async () => {
    const r = await client.chat.completions.create({
      model: 'gemini',
      messages: [{ role: 'user', content: 'hi' }],
    });
    assert.match(r.choices[0]!.message.content!, /^Simulated reply/);
    assert.match(lastBearer(), /^Bearer ya29\.sim-\d+$/);
    const grant = sim.requests.find((x) => x.url === '/token')!.body as {
      claims: { iss: string; aud: string; scope: string };
    };
    assert.equal(grant.claims.iss, email);
    assert.equal(grant.claims.aud, `${sim.url}/token`);
    assert.equal(grant.claims.scope, 'https://www.googleapis.com/auth/cloud-platform');
  });

  const tokensIssued = () => sim.requests.filter((r) => r.url === '/token').length;

  test('it is refreshed before it expires; requests keep working', async () => {
    await client.chat.completions.create({ model: 'gemini', messages: [{ role: 'user', content: 'one' }] });
    const first = lastBearer();
    const issued = tokensIssued();
    // 80% of the 2 s life: the refresh falls due, and the new token arrives before the old expires.
    clock.advance(1_600);
    await eventually(() => tokensIssued() > issued, 'the refreshed token to be fetched');
    clock.advance(500); // past the first token's life: the simulated cloud now refuses it
    await client.chat.completions.create({ model: 'gemini', messages: [{ role: 'user', content: 'two' }] });
    assert.notEqual(lastBearer(), first);
  });

  test('no refresh is due before 80% of the life: the same token keeps serving', async () => {
    const issued = tokensIssued();
    await client.chat.completions.create({ model: 'gemini', messages: [{ role: 'user', content: 'a' }] });
    const before = lastBearer();
    clock.advance(1_000);
    await client.chat.completions.create({ model: 'gemini', messages: [{ role: 'user', content: 'b' }] });
    assert.equal(lastBearer(), before);
    assert.equal(tokensIssued(), issued);
  });

  test('a key the token endpoint refuses gives no token: the request fails, the gateway lives', async () => {
    await assert.rejects(
      client.chat.completions.create({
        model: 'gemini-wrong-key',
        messages: [{ role: 'user', content: 'x' }],
      }),
      (e: InstanceType<typeof OpenAI.APIError>) => e.status === 502 && e.code === 'upstream_error',
    );
    const ok = await client.chat.completions.create({
      model: 'gemini',
      messages: [{ role: 'user', content: 'still up' }],
    });
    assert.ok(ok.choices[0]!.message.content);
  });
});
