// The upstream exchange on undici's dispatch API: bodies read whole or chunk by chunk, with the
// socket paused while too much is unread, bodies past their limit abandoned (the connection is
// aborted, not read to its end), and aborts before and after the answer's head.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { Pool } from 'undici';
import {
  ExchangeAbort,
  ExchangeHandler,
  headersOf,
  UpstreamBody,
  type UpstreamHead,
} from '../src/gateway/upstream-exchange.js';

/** A controller that records what the body asks of the socket. */
function fakeController() {
  const calls: string[] = [];
  let paused = false;
  return {
    calls,
    controller: {
      get paused() {
        return paused;
      },
      pause() {
        paused = true;
        calls.push('pause');
      },
      resume() {
        paused = false;
        calls.push('resume');
      },
      abortConnection() {
        calls.push('abort');
      },
    },
  };
}

test('unread chunks past 64 KiB pause the socket; reading them resumes it', async () => {
  const { calls, controller } = fakeController();
  const body = new UpstreamBody(controller);
  for (let i = 0; i < 4; i++) body.push(Buffer.alloc(16_384, i));
  assert.deepEqual(calls, ['pause']);
  const it = body[Symbol.asyncIterator]();
  const first = await it.next();
  assert.equal(first.value?.[0], 0);
  assert.deepEqual(calls, ['pause', 'resume']);
  body.end();
  let n = 1;
  for (let r = await it.next(); !r.done; r = await it.next()) assert.equal(r.value[0], n++);
  assert.equal(n, 4);
});

test('readAll: the whole body in order, a body past its limit is null and aborted', async () => {
  const a = fakeController();
  const whole = new UpstreamBody(a.controller);
  whole.push(Buffer.from('ab'));
  const p = whole.readAll(10);
  whole.push(Buffer.from('cd'));
  whole.end();
  assert.equal((await p)?.toString(), 'abcd');

  const b = fakeController();
  const big = new UpstreamBody(b.controller);
  const q = big.readAll(3);
  big.push(Buffer.from('ab'));
  big.push(Buffer.from('cd'));
  assert.equal(await q, null);
  assert.ok(b.calls.includes('abort'));

  // Already over the limit when asked.
  const c = fakeController();
  const early = new UpstreamBody(c.controller);
  early.push(Buffer.from('abcdef'));
  assert.equal(await early.readAll(3), null);
  assert.ok(c.calls.includes('abort'));
});

test('a broken body rejects its reader; leaving a loop early aborts; a complete body is never aborted', async () => {
  const a = fakeController();
  const broken = new UpstreamBody(a.controller);
  const it = broken[Symbol.asyncIterator]();
  const pending = it.next();
  broken.fail(new Error('socket hang up'));
  await assert.rejects(pending, /socket hang up/);
  await assert.rejects(broken.readAll(10), /socket hang up/);

  const b = fakeController();
  const left = new UpstreamBody(b.controller);
  left.push(Buffer.from('x'));
  for await (const _ of left) break;
  assert.deepEqual(b.calls, ['abort']);

  const c = fakeController();
  const done = new UpstreamBody(c.controller);
  done.end();
  done.destroy();
  for await (const _ of done) assert.fail('no chunk expected');
  assert.deepEqual(c.calls, []);
});

// Against a real server through an undici Pool.
let server: Server;
let pool: Pool;
const aborted: string[] = [];
const onAborted: (() => void)[] = [];
const hold: ServerResponse[] = [];

/** Resolves once the server has seen an answer on `path` cut before its end. */
async function cut(path: string): Promise<void> {
  while (!aborted.includes(path)) await new Promise<void>((resolve) => onAborted.push(resolve));
}

before(async () => {
  server = createServer((req, res) => {
    res.once('close', () => {
      if (!res.writableFinished) aborted.push(req.url ?? '');
      for (const f of onAborted.splice(0)) f();
    });
    if (req.url === '/big') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-dup': ['a', 'b'] });
      // 4 MiB, written as fast as the socket takes it.
      const chunk = Buffer.alloc(65_536, 7);
      let left = 64;
      const pump = () => {
        while (left > 0) {
          left--;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    } else if (req.url === '/endless') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const chunk = Buffer.alloc(65_536, 1);
      const pump = () => {
        while (!res.destroyed) if (!res.write(chunk)) return void res.once('drain', pump);
      };
      pump();
    } else if (req.url === '/hang') hold.push(res);
    else res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"no"}');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { connections: 4 });
});

after(async () => {
  for (const r of hold) r.destroy();
  await pool.close();
  server.close();
});

function exchange(path: string, abort?: ExchangeAbort): Promise<UpstreamHead | Error> {
  return new Promise((resolve) =>
    pool.dispatch({ method: 'GET', path }, new ExchangeHandler(resolve, abort)),
  );
}

test('a real exchange: headers parsed, a 4 MiB body read whole, a non-200 answer with its body', async () => {
  const r = await exchange('/big');
  assert.ok(!(r instanceof Error));
  assert.equal(r.statusCode, 200);
  assert.deepEqual(r.headers['x-dup'], ['a', 'b']);
  const body = await r.body.readAll(8 << 20);
  assert.equal(body?.length, 4 << 20);
  assert.ok(body?.every((x) => x === 7));

  const nf = await exchange('/missing');
  assert.ok(!(nf instanceof Error));
  assert.equal(nf.statusCode, 404);
  assert.equal((await nf.body.readAll(100))?.toString(), '{"error":"no"}');
});

test('a real exchange read chunk by chunk, slower than it arrives: the socket pauses and resumes, nothing is lost', async () => {
  const r = await exchange('/big');
  assert.ok(!(r instanceof Error));
  let bytes = 0;
  for await (const chunk of r.body) {
    bytes += chunk.length;
    assert.ok(chunk.every((x) => x === 7));
    // Let undici deliver more than the high-water mark before this reader takes the next.
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(bytes, 4 << 20);
});

test('headersOf: names lower-cased, values as latin1, a repeated name as an array in order, __proto__ a plain key', () => {
  const raw = (...xs: string[]) => xs.map((x) => Buffer.from(x, 'latin1'));
  const h = headersOf(
    raw(
      'Content-Type',
      'application/json',
      'X-Dup',
      'a',
      'x-dup',
      'b',
      'X-DUP',
      'c',
      '__proto__',
      'p',
      'Caf\xe9',
      '\xe9t\xe9',
    ),
  );
  assert.equal(h['content-type'], 'application/json');
  assert.deepEqual(h['x-dup'], ['a', 'b', 'c']);
  assert.equal(Object.getOwnPropertyDescriptor(h, '__proto__')?.value, 'p');
  assert.equal(h['caf\xe9'], '\xe9t\xe9');
  assert.equal(Object.getPrototypeOf(h), Object.prototype);
  assert.ok(!Object.hasOwn(h, 'constructor'));
  // A header named like an Object.prototype member is its own key, not an append to the member.
  assert.deepEqual(headersOf(raw('Constructor', 'x', 'toString', 'y')), { constructor: 'x', tostring: 'y' });
  assert.deepEqual(Object.keys(h), ['content-type', 'x-dup', '__proto__', 'caf\xe9']);
  // An odd trailing name (no value) is left out rather than read past the end.
  assert.deepEqual(headersOf(raw('a', '1', 'b')), { a: '1' });
});

test('a real exchange past its limit is aborted, not read to an end that never comes', async () => {
  const r = await exchange('/endless');
  assert.ok(!(r instanceof Error));
  assert.equal(await r.body.readAll(1_000_000), null);
  await cut('/endless');
  assert.ok(aborted.includes('/endless'));
});

test('an abort before the head settles the exchange with the error; after it, the body rejects', async () => {
  const ac = new ExchangeAbort();
  const pending = exchange('/hang', ac);
  await new Promise<void>((resolve) => {
    const wait = () => (hold.length > 0 ? resolve() : setImmediate(wait));
    wait();
  });
  ac.abort();
  const r = await pending;
  assert.ok(r instanceof Error);

  const already = new ExchangeAbort();
  already.abort();
  assert.ok((await exchange('/missing', already)) instanceof Error);

  const mid = new ExchangeAbort();
  const head = await exchange('/endless', mid);
  assert.ok(!(head instanceof Error));
  const it = head.body[Symbol.asyncIterator]();
  assert.equal((await it.next()).done, false);
  mid.abort();
  await assert.rejects(async () => {
    for (let x = await it.next(); !x.done; x = await it.next()) {}
  });
});
