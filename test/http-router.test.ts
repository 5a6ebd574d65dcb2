// HTTP routing by tables: exact paths, one captured segment, mounted sub-apps, HEAD as GET, and
// coded not_found / method_not_allowed answers for everything else, on a real server.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Exchange, Router, sendJson } from '../src/http/index.js';

describe('Router', () => {
  let server: Server;
  let base: string;
  before(async () => {
    const echo = (name: string) => (_req: unknown, res: import('node:http').ServerResponse, ex: Exchange) =>
      sendJson(res, 200, { name, params: ex.params, q: ex.query.get('q') }, ex.requestId);
    const admin = new Router([{ method: 'POST', path: '/things', handler: echo('admin-things') }], {
      notFound: (m, p) => `No admin route for ${m} ${p}.`,
    });
    const app = new Router([
      { method: 'GET', path: '/items', handler: echo('list') },
      { method: 'GET', path: '/items/:id', handler: echo('one') },
      { method: 'POST', path: '/items', handler: echo('create') },
    ]).mount('/admin', admin);
    server = createServer((req, res) => {
      const url = req.url ?? '/';
      const q = url.indexOf('?');
      void app.dispatch(
        req,
        res,
        new Exchange('req_1', 0, q < 0 ? url : url.slice(0, q), q < 0 ? '' : url.slice(q + 1)),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  const call = async (method: string, path: string) => {
    const r = await fetch(`${base}${path}`, { method });
    const text = await r.text();
    return {
      status: r.status,
      allow: r.headers.get('allow'),
      body: text ? (JSON.parse(text) as Record<string, unknown>) : null,
    };
  };

  test('exact paths by method, a captured segment decoded, the query parsed', async () => {
    assert.deepEqual((await call('GET', '/items?q=x')).body, { name: 'list', params: {}, q: 'x' });
    assert.equal((await call('POST', '/items')).body!.name, 'create');
    assert.deepEqual((await call('GET', '/items/a%20b')).body!.params, { id: 'a b' });
  });

  test('a mounted sub-app sees paths relative to its prefix and has its own not_found message', async () => {
    assert.equal((await call('POST', '/admin/things')).body!.name, 'admin-things');
    const miss = await call('GET', '/admin/nothing');
    assert.equal(miss.status, 404);
    assert.match(
      String((miss.body!.error as { message: string }).message),
      /^No admin route for GET \/admin\/nothing/,
    );
  });

  test('HEAD is answered as GET, without a body', async () => {
    const r = await call('HEAD', '/items');
    assert.equal(r.status, 200);
    assert.equal(r.body, null);
  });

  test('hostile and unknown paths get coded errors, never a crash', async () => {
    for (const path of [
      '/nope',
      '/items/a/b',
      '/items/%E0%A4%A',
      '/items/',
      '//items',
      '/admin',
      '/admin/',
    ]) {
      const r = await call('GET', path);
      assert.equal(r.status, 404, path);
      assert.equal((r.body!.error as { code: string }).code, 'not_found', path);
    }
    const wrong = await call('DELETE', '/items');
    assert.equal(wrong.status, 405);
    assert.equal(wrong.allow, 'GET, POST');
    assert.equal((wrong.body!.error as { code: string }).code, 'method_not_allowed');
  });
});
