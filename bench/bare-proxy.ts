// The floor: the smallest correct Node.js proxy (node:http in, undici's dispatch out, the answer's
// bytes passed on as they come), with none of Entente's work (no validation, auth, routing, usage,
// headers). Benchmarked beside Entente so that its own cost is visible apart from Node's.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { forward } from './bare-upstream.js';

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const flow = forward(Buffer.concat(chunks), {
      head(status, contentType, contentLength) {
        const h: Record<string, string | number> = { 'content-type': contentType };
        if (contentLength !== null) h['content-length'] = contentLength;
        res.writeHead(status, h);
      },
      data(chunk) {
        if (res.write(chunk)) return true;
        res.once('drain', () => flow.resume());
        return false;
      },
      end: () => res.end(),
      fail: () => (res.headersSent ? res.destroy() : res.writeHead(502).end()),
    });
  });
});
server.listen(0, '127.0.0.1', () =>
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`),
);
