// The shipped example, as `npm start` runs it: the real `entente serve` process with
// examples/entente.yaml (agreement, price books and simulated Azure, OpenAI, Bedrock and Google
// clouds). gpt-oss-120b is deployed on Azure, Bedrock and Vertex: with Azure down, then Bedrock
// throttled, the client sees no error, and each usage record names the cloud that served it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import OpenAI from 'openai';
import { SqliteStore } from '../src/store/index.js';

const cli = fileURLToPath(new URL('../../bin/entente.js', import.meta.url));
const example = fileURLToPath(new URL('../../examples/entente.yaml', import.meta.url));
const DEMO_KEY = 'sk-entente-demo-0000000000000000';

test('the example: gpt-oss-120b fails over Azure → Bedrock → Vertex with no client-visible error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'entente-example-'));
  const child = spawn(
    process.execPath,
    [cli, 'serve', '--config', example, '--port', '0', '--data-dir', dir],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        ENTENTE_SIM_AZURE_PORT: '0',
        ENTENTE_SIM_OPENAI_PORT: '0',
        ENTENTE_SIM_BEDROCK_PORT: '0',
        ENTENTE_SIM_GOOGLE_PORT: '0',
        ENTENTE_LOG_LEVEL: 'info',
      },
    },
  );
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const { url, sims } = await new Promise<{ url: string; sims: Record<string, string> }>(
      (resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const line = out.split('\n').find((l) => l.includes('"entente is serving"'));
          if (line) {
            const j = JSON.parse(line) as { url: string; simulators: Record<string, string> };
            resolve({ url: j.url, sims: j.simulators });
          }
        });
        child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
      },
    );
    const fault = (sim: string, body: unknown) =>
      fetch(`${sims[sim]}/_sim/fault`, { method: 'POST', body: JSON.stringify(body) });
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: DEMO_KEY, maxRetries: 0 });
    const ask = {
      model: 'gpt-oss-120b',
      messages: [{ role: 'user' as const, content: 'Where are you served?' }],
    };

    const served: [string, string][] = [];
    let r = await client.chat.completions.create(ask).withResponse();
    served.push([r.response.headers.get('x-request-id')!, r.response.headers.get('x-entente-cloud')!]);
    await fault('azure-sim', { kind: 'server_error' });
    r = await client.chat.completions.create(ask).withResponse();
    served.push([r.response.headers.get('x-request-id')!, r.response.headers.get('x-entente-cloud')!]);
    assert.match(r.data.choices[0]!.message.content!, /^Simulated reply from aws\/openai\.gpt-oss-120b-1:0/);
    await fault('bedrock-sim', { kind: 'rate_limit', retryAfterS: 30 });
    const s = await client.chat.completions
      .create({ ...ask, stream: true, stream_options: { include_usage: true } })
      .withResponse();
    let text = '';
    for await (const c of s.data) text += c.choices[0]?.delta.content ?? '';
    served.push([s.response.headers.get('x-request-id')!, s.response.headers.get('x-entente-cloud')!]);
    assert.match(text, /^Simulated reply from gcp\/gpt-oss-120b-maas/);
    assert.deepEqual(
      served.map(([, c]) => c),
      ['azure', 'aws', 'gcp'],
    );

    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);
    const store = new SqliteStore(join(dir, 'entente.db'));
    try {
      for (const [id, cloud] of served) {
        const rows = await store.listUsage({ requestId: id });
        assert.equal(rows.length, 1);
        assert.equal(rows[0]!.cloud, cloud);
        assert.equal(rows[0]!.status, 200);
        assert.ok(rows[0]!.tokensOutput > 0);
      }
    } finally {
      await store.close();
    }
  } finally {
    child.kill('SIGKILL');
  }
});
