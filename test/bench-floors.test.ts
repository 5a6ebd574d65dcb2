// The benchmark's floors (bench/bare-proxy.ts on node:http, bench/bare-net-proxy.ts on node:net
// with llhttp) are what Entente's figures are read against, so they must be correct proxies: the
// mock's answers come back byte for byte, JSON and streamed, pipelined requests are answered in
// order (even when the upstream answers the second first), a chunked request body is read whole,
// and (bare-net) a malformed request gets a 400.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const bench = (file: string) => fileURLToPath(new URL(`../bench/${file}`, import.meta.url));
const procs: ChildProcess[] = [];

/** Starts a benchmark process and resolves with the port it prints ({"port":N}). */
function startPort(file: string, env: NodeJS.ProcessEnv): Promise<number> {
  const p = spawn(process.execPath, [bench(file)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  procs.push(p);
  return new Promise((resolve, reject) => {
    let out = '';
    p.stdout!.on('data', (d: Buffer) => {
      out += d;
      const m = /"port":(\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    p.once('exit', (code) => reject(new Error(`${file} exited ${code}`)));
  });
}

const JSON_BODY = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
const STREAM_BODY = JSON.stringify({
  model: 'gpt-4o-mini',
  stream: true,
  messages: [{ role: 'user', content: 'hi' }],
});

async function post(port: number, body: string) {
  const r = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
}

/** Writes `raw` on one connection and resolves with everything read until the server closes it. */
function exchange(port: number, raw: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let out = '';
    s.on('data', (d: Buffer) => {
      out += d.toString('latin1');
    });
    s.on('error', reject);
    s.on('close', () => resolve(out));
    s.write(raw);
  });
}

let mock = 0;
const floors: Record<string, number> = {};
/** Floors in front of `holding`, an upstream that answers a request only after the next one. */
const heldFloors: Record<string, number> = {};
let holding: Server;
/** Floors in front of `bulky`, an upstream that streams BULK_CHUNKS chunks of 64 KiB. */
const bulkFloors: Record<string, number> = {};
let bulky: Server;
const BULK_CHUNKS = 512; // 32 MiB: more than the kernel's socket buffers hold on loopback
const bulkChunk = (i: number) => Buffer.alloc(65_536, i % 251);
/** What the running bulk answer tells the test: the upstream had to wait (the floor stopped reading), or it is done. */
let bulkSignal: () => void = () => {};

/**
 * An upstream whose answer is larger than any buffer on the way: the floor must stop reading it
 * while its client does not read, and go on when the client does.
 */
function startBulky(): Promise<number> {
  bulky = createServer((req, res) => {
    req.resume();
    req.on('end', async () => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      for (let i = 0; i < BULK_CHUNKS; i++)
        if (!res.write(bulkChunk(i))) {
          bulkSignal();
          await once(res, 'drain');
        }
      res.end();
      bulkSignal();
    });
  });
  return new Promise((resolve) =>
    bulky.listen(0, '127.0.0.1', () => resolve((bulky.address() as AddressInfo).port)),
  );
}

/** A chunked body's data (RFC 9112 section 7.1), or null when its framing is broken. */
function dechunk(body: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    if (eol === -1) return null;
    const size = Number.parseInt(body.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isInteger(size)) return null;
    if (size === 0) return Buffer.concat(parts);
    const end = eol + 2 + size;
    if (body.subarray(end, end + 2).toString('latin1') !== '\r\n') return null;
    parts.push(body.subarray(eol + 2, end));
    at = end + 2;
  }
}

/**
 * An upstream that holds each request until the next one has arrived and been answered: the
 * second of two pipelined requests is answered upstream first, and a proxy that wrote answers as
 * they came would send them in the wrong order. Each answer echoes the body it was sent.
 */
function startHolding(): Promise<number> {
  let held: { res: ServerResponse; body: string } | null = null;
  holding = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d;
    });
    req.on('end', () => {
      res.setHeader('content-type', 'text/plain');
      if (held === null) {
        held = { res, body };
        return;
      }
      const first = held;
      held = null;
      res.end(`second ${body}`);
      res.on('finish', () => first.res.end(`first ${first.body}`));
    });
  });
  return new Promise((resolve) =>
    holding.listen(0, '127.0.0.1', () => resolve((holding.address() as AddressInfo).port)),
  );
}

before(async () => {
  mock = await startPort('mock-upstream.js', { PORT: '0' });
  const upstream = { UPSTREAM: `http://127.0.0.1:${mock}` };
  floors['bare-proxy'] = await startPort('bare-proxy.js', upstream);
  floors['bare-net'] = await startPort('bare-net-proxy.js', upstream);
  const held = { UPSTREAM: `http://127.0.0.1:${await startHolding()}` };
  heldFloors['bare-proxy'] = await startPort('bare-proxy.js', held);
  heldFloors['bare-net'] = await startPort('bare-net-proxy.js', held);
  const bulk = { UPSTREAM: `http://127.0.0.1:${await startBulky()}` };
  bulkFloors['bare-proxy'] = await startPort('bare-proxy.js', bulk);
  bulkFloors['bare-net'] = await startPort('bare-net-proxy.js', bulk);
});
after(() => {
  for (const p of procs) p.kill();
  holding?.close();
  bulky?.close();
});

for (const name of ['bare-proxy', 'bare-net']) {
  describe(`the benchmark floor ${name}`, () => {
    test('passes the JSON and the streamed answer through byte for byte', async () => {
      const port = floors[name]!;
      for (const body of [JSON_BODY, STREAM_BODY]) {
        const direct = await post(mock, body);
        const proxied = await post(port, body);
        assert.equal(proxied.status, 200);
        assert.equal(proxied.type, direct.type);
        assert.equal(proxied.text, direct.text);
      }
      assert.match((await post(port, STREAM_BODY)).text, /data: \[DONE\]\n\n$/);
    });

    test('answers pipelined requests in order, and reads a chunked body whole', async () => {
      const size = Buffer.byteLength(STREAM_BODY).toString(16);
      const raw = await exchange(
        heldFloors[name]!,
        `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n${size}\r\n${STREAM_BODY}\r\n0\r\n\r\n` +
          `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: ${JSON_BODY.length}\r\nconnection: close\r\n\r\n${JSON_BODY}`,
      );
      const heads = [...raw.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
      assert.deepEqual(heads, ['200', '200']);
      const first = raw.indexOf(`first ${STREAM_BODY}`);
      const second = raw.indexOf(`second ${JSON_BODY}`);
      assert.ok(first > 0 && second > first, `answered in the requests' order: ${JSON.stringify(raw)}`);
    });

    test('stops reading the upstream while its client does not read, and relays all of it after', {
      timeout: 60_000,
    }, async () => {
      const signalled = new Promise<void>((resolve) => {
        bulkSignal = resolve;
      });
      const socket = connect(bulkFloors[name]!, '127.0.0.1');
      socket.pause();
      socket.write(
        `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}`,
      );
      // The upstream had to wait for the floor (or, with a floor that buffers without limit, finished).
      await signalled;
      const parts: Buffer[] = [];
      socket.on('data', (d: Buffer) => parts.push(d));
      socket.resume();
      await once(socket, 'close');
      const raw = Buffer.concat(parts);
      const headEnd = raw.indexOf('\r\n\r\n');
      assert.match(
        raw.subarray(0, headEnd).toString('latin1'),
        /^HTTP\/1\.1 200 .*transfer-encoding: chunked/is,
      );
      const body = dechunk(raw.subarray(headEnd + 4));
      assert.ok(body !== null, 'the chunked framing is whole');
      assert.equal(body.length, BULK_CHUNKS * 65_536);
      for (let i = 0; i < BULK_CHUNKS; i++)
        assert.equal(body[i * 65_536 + 100], i % 251, `chunk ${i} is in its place`);
    });
  });
}

test('the node:net floor answers a malformed request 400 and closes', async () => {
  const raw = await exchange(floors['bare-net']!, 'GARBAGE\r\n\r\n');
  assert.match(raw, /^HTTP\/1\.1 400 Bad Request\r\n/);
});
