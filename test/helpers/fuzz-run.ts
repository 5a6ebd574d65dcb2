// The hostile probe: the real `entente serve` (agreement, ledger, metrics and logs on) in front of
// a simulated cloud, sent requests of every malformed kind we could think of: broken and
// truncated JSON, wrong types, deep nesting, huge and odd strings, unknown fields, bad headers
// and keys, wrong methods and paths, chunked and oversized bodies, every API. It counts a gateway
// 5xx, an error answer that is not the coded JSON shape, the process dying, and a request left
// hanging; any of those fails the run.
//
//   npm run fuzz                    FUZZ_REQUESTS=100000 FUZZ_CONCURRENCY=16 (defaults)
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSimulator } from '../../sim/index.js';
import { seeded } from './random.js';
import { writeSimGatewayConfig } from './sim-gateway-config.js';

const cli = fileURLToPath(new URL('../../../bin/entente.js', import.meta.url));
const KEY = 'sk-fuzz-key-0000000000000000';
const ADMIN = 'sk-fuzz-admin-000000000000000';
const sha = (k: string) => createHash('sha256').update(k).digest('hex');

export interface FuzzReport {
  readonly tried: number;
  readonly byStatus: Record<string, number>;
  readonly gateway5xx: readonly string[];
  readonly notCodedJson: readonly string[];
  readonly hanging: readonly string[];
  readonly crashed: boolean;
}

interface Probe {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer | null;
  /** Send the body in chunks (no content-length). */
  readonly chunked?: boolean;
}

const ODD_STRINGS = [
  '',
  '\u0000',
  '\ud800',
  '💥'.repeat(1000),
  'a'.repeat(200_000),
  '"; DROP TABLE usage_records; --',
  '../../../../etc/passwd',
  '%00%0d%0a',
  '\r\nx-injected: 1',
  ['$', '{jndi:ldap://x}'].join(''), // a log4shell probe string, built so no linter mistakes it for a template
  '<script>alert(1)</script>',
  'ключ',
  '\u202e',
  ' '.repeat(5000),
];
const ODD_VALUES: unknown[] = [
  null,
  true,
  -1,
  0,
  1e308,
  -1e308,
  Number.MAX_SAFE_INTEGER + 2,
  1.5,
  [],
  {},
  [[[[[]]]]],
  { $ref: '#' },
  ...ODD_STRINGS,
];

function deep(depth: number, array: boolean): string {
  return array ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

function validChat(r: () => number): Record<string, unknown> {
  return {
    model: r() < 0.8 ? 'gpt-4o-mini' : pick(r, ['nope', '', 'gpt-4o-mini ', 'GPT-4O-MINI', '../x']),
    messages: [{ role: 'user', content: 'hello fuzz' }],
    ...(r() < 0.4 ? { stream: true } : {}),
  };
}

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

/** Replaces, adds or deletes one field somewhere in a JSON value. */
function mutate(r: () => number, v: Record<string, unknown>): Record<string, unknown> {
  const out = structuredClone(v);
  const target: Record<string, unknown> =
    r() < 0.5 ? out : ((out.messages as Record<string, unknown>[] | undefined)?.[0] ?? out);
  const keys = Object.keys(target);
  const op = r();
  if (op < 0.4 && keys.length > 0) target[pick(r, keys)] = pick(r, ODD_VALUES);
  else if (op < 0.7)
    target[
      pick(r, [
        ...ODD_STRINGS,
        'tools',
        'n',
        'max_tokens',
        'response_format',
        'stream_options',
        'temperature',
        'tool_choice',
        'logit_bias',
        'input',
        'metadata',
      ])
    ] = pick(r, ODD_VALUES);
  else if (keys.length > 0) delete target[pick(r, keys)];
  return out;
}

function probe(r: () => number, i: number): Probe {
  const auth = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };
  const json = (o: unknown) => Buffer.from(JSON.stringify(o));
  const api = pick(r, ['/v1/chat/completions', '/v1/responses', '/v1/embeddings']);
  const kind = Math.floor(r() * 16);
  switch (kind) {
    case 0:
      return {
        name: 'valid chat',
        method: 'POST',
        path: '/v1/chat/completions',
        headers: auth,
        body: json(validChat(r)),
      };
    case 1:
    case 2:
    case 3:
      return {
        name: `mutated ${api}`,
        method: 'POST',
        path: api,
        headers: auth,
        body: json(
          mutate(
            r,
            api === '/v1/embeddings'
              ? { model: 'emb', input: 'x' }
              : api === '/v1/responses'
                ? { model: 'gpt-4o-mini', input: 'hi' }
                : validChat(r),
          ),
        ),
      };
    case 4: {
      const text = JSON.stringify(validChat(r));
      return {
        name: 'truncated JSON',
        method: 'POST',
        path: api,
        headers: auth,
        body: Buffer.from(text.slice(0, Math.floor(r() * text.length))),
      };
    }
    case 5:
      return {
        name: 'deep nesting',
        method: 'POST',
        path: api,
        headers: auth,
        body: Buffer.from(
          `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}],"x":${deep(100 + Math.floor(r() * 20_000), r() < 0.5)}}`,
        ),
      };
    case 6:
      return {
        name: 'random bytes',
        method: 'POST',
        path: api,
        headers: auth,
        body: Buffer.from(Array.from({ length: Math.floor(r() * 2000) }, () => Math.floor(r() * 256))),
      };
    case 7:
      return {
        name: 'not an object',
        method: 'POST',
        path: api,
        headers: auth,
        body: json(pick(r, ODD_VALUES)),
      };
    case 8:
      return {
        name: 'bad auth',
        method: 'POST',
        path: api,
        headers: {
          'content-type': 'application/json',
          ...pick<Record<string, string>>(r, [
            {},
            { authorization: 'Bearer' },
            { authorization: `Basic ${KEY}` },
            { authorization: `Bearer ${'k'.repeat(10_000)}` },
            { 'api-key': '' },
            { authorization: `Bearer ${ADMIN}` },
          ]),
        },
        body: json(validChat(r)),
      };
    case 9:
      return {
        name: 'odd path',
        method: pick(r, ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD']),
        path: pick(r, [
          '/',
          '/v1',
          '/v1/',
          '/v1/models/%ZZ',
          '/v1/models/../../etc',
          '/v1/entente/ledger/balances',
          '/v1/entente/../admin',
          '/console/assets/../../package.json',
          '/metrics',
          `/v1/chat/completions?${'a=1&'.repeat(500)}`,
          '//v1/chat/completions',
          '/V1/CHAT/COMPLETIONS',
          '/v1/chat/completions/',
        ]),
        headers: auth,
        body: r() < 0.5 ? null : json(validChat(r)),
      };
    case 10:
      return {
        name: 'admin with tenant key',
        method: pick(r, ['GET', 'POST']),
        path: pick(r, [
          '/v1/entente/ledger/balances',
          '/v1/entente/rollout/events',
          '/v1/entente/ledger/refunds',
          '/v1/entente/traffic?window_s=-1',
          '/metrics',
        ]),
        headers: auth,
        body: json({ refundId: 'x', requestId: 'y', amount: '1' }),
      };
    case 11:
      return {
        name: 'admin hostile input',
        method: pick(r, ['GET', 'POST']),
        path: pick(r, [
          '/v1/entente/traffic?window_s=abc&bucket_s=0',
          '/v1/entente/agreement?as_of=not-a-date',
          '/v1/entente/ledger/statement?period=2026-13',
          '/v1/entente/ledger/refunds',
          '/v1/entente/rollout/events',
          '/v1/entente/requests?limit=-5&q=%ff',
          '/v1/entente/route',
        ]),
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: json(mutate(r, { refundId: 'x', requestId: 'y', amount: '1.5', model: 'm', stage: 'ga' })),
      };
    case 12:
      return {
        name: 'chunked oversized',
        method: 'POST',
        path: api,
        headers: auth,
        body: Buffer.alloc(2_000_000 + Math.floor(r() * 1000), 0x61),
        chunked: true,
      };
    case 13:
      return {
        name: 'wrong content type',
        method: 'POST',
        path: api,
        headers: {
          authorization: `Bearer ${KEY}`,
          'content-type': pick(r, [
            'text/plain',
            'application/x-www-form-urlencoded',
            'multipart/form-data; boundary=x',
            '',
          ]),
        },
        body: json(validChat(r)),
      };
    case 14:
      return {
        name: 'huge header',
        method: 'POST',
        path: api,
        headers: { ...auth, 'x-big': 'h'.repeat(20_000 + Math.floor(r() * 20_000)) },
        body: json(validChat(r)),
      };
    default:
      return {
        name: `request ${i} with odd tools`,
        method: 'POST',
        path: '/v1/chat/completions',
        headers: auth,
        body: json({ ...validChat(r), tools: pick(r, ODD_VALUES), tool_choice: pick(r, ODD_VALUES) }),
      };
  }
}

interface Answer {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

function send(port: number, p: Probe, timeoutMs: number): Promise<Answer | 'hung' | 'reset'> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = { ...p.headers };
    if (p.body && !p.chunked) headers['content-length'] = String(p.body.length);
    const req = httpRequest({
      host: '127.0.0.1',
      port,
      method: p.method,
      path: p.path,
      headers,
      agent: false,
    });
    const timer = setTimeout(() => {
      req.destroy();
      resolve('hung');
    }, timeoutMs);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({
          status: res.statusCode ?? 0,
          contentType: String(res.headers['content-type'] ?? ''),
          body: Buffer.concat(chunks).toString('utf8'),
        });
      });
      res.on('error', () => {
        clearTimeout(timer);
        resolve('reset');
      });
    });
    req.on('error', () => {
      clearTimeout(timer);
      resolve('reset');
    });
    if (p.body) {
      if (p.chunked)
        for (let i = 0; i < p.body.length; i += 65_536) req.write(p.body.subarray(i, i + 65_536));
      else req.write(p.body);
    }
    req.end();
  });
}

export async function fuzzRun(o: {
  requests: number;
  concurrency: number;
  seed: number;
}): Promise<FuzzReport> {
  const r = seeded(o.seed);
  const sim = await startSimulator({ kind: 'openai', apiKey: 'k' });
  const dir = mkdtempSync(join(tmpdir(), 'entente-fuzz-'));
  const cfg = writeSimGatewayConfig({
    dir,
    sim,
    key: KEY,
    server: `port: 0, adminKeySha256: ${sha(ADMIN)}, bodyLimitBytes: 1048576`,
    ledgerIntervalMs: 500,
  });
  const proc: ChildProcess = spawn(process.execPath, [cli, 'serve', '--config', cfg], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let crashed = false;
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  const port = await new Promise<number>((resolve, reject) => {
    let err = '';
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /API at http:\/\/[\d.]+:(\d+)\/v1/.exec(err);
      if (m) resolve(Number(m[1]));
    });
    void exited.then(() => reject(new Error(`entente serve exited: ${err}`)));
  });
  void exited.then(() => {
    crashed = true;
  });
  const byStatus: Record<string, number> = {};
  const gateway5xx: string[] = [];
  const notCodedJson: string[] = [];
  const hanging: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < o.requests && !crashed) {
      const i = next++;
      const p = probe(r, i);
      const a = await send(port, p, 15_000);
      if (a === 'hung') {
        hanging.push(`${p.name} ${p.method} ${p.path.slice(0, 80)}`);
        continue;
      }
      if (a === 'reset') {
        byStatus.reset = (byStatus.reset ?? 0) + 1;
        continue;
      }
      byStatus[a.status] = (byStatus[a.status] ?? 0) + 1;
      if (a.status >= 500)
        gateway5xx.push(`${a.status} ${p.name} ${p.method} ${p.path.slice(0, 80)}: ${a.body.slice(0, 200)}`);
      const isError = a.status >= 400;
      if (isError && p.method !== 'HEAD') {
        let coded = false;
        try {
          const j = JSON.parse(a.body) as { error?: { code?: unknown; message?: unknown } };
          coded = typeof j.error?.code === 'string' && typeof j.error.message === 'string';
        } catch {
          coded = false;
        }
        if (!coded || !a.contentType.startsWith('application/json'))
          notCodedJson.push(
            `${a.status} ${p.name} ${p.method} ${p.path.slice(0, 80)}: ${a.body.slice(0, 120)}`,
          );
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, () => worker()));
  proc.kill('SIGTERM');
  await exited;
  await sim.close();
  return {
    tried: next,
    byStatus,
    gateway5xx,
    notCodedJson,
    hanging,
    crashed: crashed && proc.exitCode !== 0 && proc.signalCode !== 'SIGTERM',
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const report = await fuzzRun({
    requests: Number(process.env.FUZZ_REQUESTS ?? 100_000),
    concurrency: Number(process.env.FUZZ_CONCURRENCY ?? 16),
    seed: Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 100_000)),
  });
  process.stdout.write(
    `${JSON.stringify({ ...report, gateway5xx: report.gateway5xx.slice(0, 20), notCodedJson: report.notCodedJson.slice(0, 20), hanging: report.hanging.slice(0, 20) }, null, 2)}\n`,
  );
  process.exit(
    report.gateway5xx.length || report.notCodedJson.length || report.hanging.length || report.crashed ? 1 : 0,
  );
}
