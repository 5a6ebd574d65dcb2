// The floor: the smallest correct Node.js proxy (node:http in, undici out, bytes piped back),
// with none of Entente's work (no validation, auth, routing, usage, headers). Benchmarked beside
// Entente so that its own cost is visible apart from Node's.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';

const upstream = new Pool(process.env.UPSTREAM!, { connections: 256 });
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', async () => {
    try {
      const r = await upstream.request({
        method: 'POST',
        path: '/v1/chat/completions',
        headers: { 'content-type': 'application/json' },
        body: Buffer.concat(chunks),
      });
      res.writeHead(r.statusCode, {
        'content-type': String(r.headers['content-type'] ?? 'application/json'),
      });
      for await (const c of r.body) res.write(c);
      res.end();
    } catch {
      res.writeHead(502).end();
    }
  });
});
server.listen(0, '127.0.0.1', () =>
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`),
);
