// The upstream half of the bare proxies (bare-proxy.ts, bare-net-proxy.ts): the client's body
// POSTed to the mock on undici's dispatch API (what Entente uses; undici's request() adds a
// Readable stream and a promise per chunk), the answer's head and chunks handed on as they come,
// with back-pressure. Nothing else: no validation, auth, routing, usage or headers of its own.
import { Pool } from 'undici';

export interface Relay {
  /** The answer's status and, when the upstream sent one, its content-length. */
  head(status: number, contentType: string, contentLength: number | null): void;
  /** A chunk of the body; false asks the upstream to pause until resume() is called. */
  data(chunk: Buffer): boolean;
  end(): void;
  fail(): void;
}

const upstream = new Pool(process.env.UPSTREAM!, { connections: 256 });
const REQUEST_HEADERS = ['content-type', 'application/json'];

/** Sends `body` upstream; `relay` gets the answer. Returns the resume function's holder. */
export function forward(body: Buffer, relay: Relay): { resume: () => void } {
  const flow = { resume: () => {} };
  upstream.dispatch(
    { method: 'POST', path: '/v1/chat/completions', headers: REQUEST_HEADERS, body },
    {
      onConnect() {},
      onHeaders(status: number, raw: Buffer[], resume: () => void) {
        flow.resume = resume;
        let type = 'application/json';
        let length: number | null = null;
        for (let i = 0; i + 1 < raw.length; i += 2) {
          const name = raw[i]!.toString('latin1').toLowerCase();
          if (name === 'content-type') type = raw[i + 1]!.toString('latin1');
          else if (name === 'content-length') length = Number(raw[i + 1]!.toString('latin1'));
        }
        relay.head(status, type, length);
        return true;
      },
      onData: (chunk: Buffer) => relay.data(chunk),
      onComplete: () => relay.end(),
      onError: () => relay.fail(),
    },
  );
  return flow;
}
