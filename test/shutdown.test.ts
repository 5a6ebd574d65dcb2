// SIGTERM with requests in flight: the real `entente serve` process drains them, flushes the
// usage log and exits 0; every request completes and has exactly one usage record.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { SqliteStore } from '../src/store/index.js';
import { eventually } from './helpers/eventually.js';

const cli = fileURLToPath(new URL('../../bin/entente.js', import.meta.url));
const KEY = 'sk-shutdown-test';

test('SIGTERM drains in-flight requests and loses no usage record', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'entente-shutdown-'));
  const configFile = join(dir, 'entente.yaml');
  writeFileSync(
    configFile,
    `dataDir: ${dir}
server: { port: 0, shutdownGraceMs: 20000 }
routing: { primaryCloud: azure }
simulators:
  - { id: az, kind: azure-openai, latencyMs: 400, tokensPerSecond: 20 }
upstreams:
  - { id: azure-1, provider: azure-openai, cloud: azure, baseUrl: "sim://az", apiVersion: 2024-10-21, auth: { apiKey: k } }
models:
  - name: gpt-4o
    deployments: [{ upstream: azure-1, deployment: gpt-4o, modelVersion: "1" }]
tenants:
  - id: t
    keys: [{ id: k1, sha256: ${createHash('sha256').update(KEY).digest('hex')} }]
usage: { batchSize: 1000, flushIntervalMs: 60000 }
`,
  );
  const child = spawn(process.execPath, [cli, 'serve', '--config', configFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const [url, simUrl] = await new Promise<[string, string]>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"url":"(http:[^"]+)"/.exec(out);
      const sim = /"simulators":\{"az":"(http:[^"]+)"/.exec(out);
      if (m && sim) resolve([m[1]!, sim[1]!]);
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: KEY, maxRetries: 0 });
  const N = 16;
  const ids: string[] = [];
  const texts: string[] = [];
  // The flush interval is a minute: only the shutdown flush can write these records.
  const requests = Array.from({ length: N }, async (_, i) => {
    const content = `request ${i} with some words`;
    if (i % 2 === 0) {
      const { data, response } = await client.chat.completions
        .create({ model: 'gpt-4o', messages: [{ role: 'user', content }] })
        .withResponse();
      ids.push(response.headers.get('x-request-id')!);
      texts.push(data.choices[0]!.message.content!);
    } else {
      const { data, response } = await client.chat.completions
        .create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content }] })
        .withResponse();
      ids.push(response.headers.get('x-request-id')!);
      let t = '';
      for await (const c of data) t += c.choices[0]?.delta.content ?? '';
      texts.push(t);
    }
  });
  // SIGTERM only once every request has reached the simulated cloud (which answers after 400 ms):
  // all of them are in flight, none answered yet.
  await eventually(async () => {
    const seen = (await (await fetch(`${simUrl}/_sim/requests`)).json()) as { count: number };
    return seen.count >= N;
  }, 'every request to reach the simulated cloud');
  child.kill('SIGTERM');
  await Promise.all(requests);
  assert.equal(await exited, 0, `serve exited cleanly: ${stderr}`);
  assert.equal(texts.length, N);
  for (const t of texts) assert.match(t, /^Simulated reply from azure\/gpt-4o: request \d+ with some words$/);

  const store = new SqliteStore(join(dir, 'entente.db'));
  await store.migrate();
  try {
    assert.equal(await store.countUsage(), N);
    const rows = await store.listUsage({ limit: 100 });
    assert.deepEqual(rows.map((r) => r.requestId).sort(), [...ids].sort());
    for (const r of rows) {
      assert.equal(r.status, 200);
      assert.equal(r.usageExact, true);
      assert.equal(
        r.tokensOutput,
        9,
        'reply words: Simulated reply from azure/gpt-4o: request N with some words',
      );
    }
  } finally {
    await store.close();
  }
});
