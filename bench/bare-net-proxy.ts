// What Node's HTTP server costs: the bare proxy (bare-proxy.ts) again, with node:http replaced
// by a socket server that parses requests with llhttp (the parser node:http itself runs, here the
// WebAssembly build undici ships for its client) and writes response heads itself. Correct for
// what the benchmark sends and for pipelined requests (answered in order), chunked request bodies
// and Connection: close; a malformed request gets 400 and a closed connection. Not a server to
// deploy: no timeouts, no header or body limits, no Expect: 100-continue, no upgrades.
// llhttp's C API: https://github.com/nodejs/llhttp#readme

import { STATUS_CODES } from 'node:http';
import { createRequire } from 'node:module';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { forward, type Relay } from './bare-upstream.js';

// This project's TypeScript library has no WebAssembly types: the little used here.
const WebAssembly = (
  globalThis as unknown as {
    WebAssembly: {
      Module: new (bytes: Uint8Array) => object;
      Instance: new (module: object, imports: object) => { exports: unknown };
    };
  }
).WebAssembly;
interface Llhttp {
  readonly memory: { readonly buffer: ArrayBuffer };
  llhttp_alloc(type: number): number;
  llhttp_free(parser: number): void;
  llhttp_execute(parser: number, data: number, length: number): number;
  malloc(bytes: number): number;
  free(ptr: number): void;
}
const REQUEST = 1;

/** The connection whose bytes llhttp is parsing, and where those bytes are (JS and wasm). */
let current: Connection | null = null;
let source: Buffer = Buffer.alloc(0);
let wasmAt = 0;
const slice = (at: number, len: number) => source.subarray(at - wasmAt, at - wasmAt + len);

// undici's own choice: the SIMD build where the CPU runs it, else the plain one.
const load = (file: string) => createRequire(import.meta.url)(`undici/lib/llhttp/${file}`) as Buffer;
let module: object;
try {
  module = new WebAssembly.Module(load('llhttp_simd-wasm.js'));
} catch {
  module = new WebAssembly.Module(load('llhttp-wasm.js'));
}
const llhttp = new WebAssembly.Instance(module, {
  env: {
    wasm_on_message_begin: () => current!.begin(),
    wasm_on_url: (_p: number, at: number, len: number) => current!.url(slice(at, len)),
    wasm_on_status: () => 0,
    wasm_on_header_field: (_p: number, at: number, len: number) => current!.field(slice(at, len)),
    wasm_on_header_value: (_p: number, at: number, len: number) => current!.value(slice(at, len)),
    wasm_on_headers_complete: (_p: number, _s: number, _u: number, keepAlive: number) =>
      current!.headersDone(keepAlive === 1),
    wasm_on_body: (_p: number, at: number, len: number) => current!.body(slice(at, len)),
    wasm_on_message_complete: () => current!.complete(),
  },
}).exports as unknown as Llhttp;
let bufferAt = 0;
let bufferBytes = 0;

let dateSecond = 0;
let dateLine = '';
function date(): string {
  const s = Math.floor(Date.now() / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateLine = `date: ${new Date(s * 1000).toUTCString()}\r\n`;
  }
  return dateLine;
}

/**
 * One request's answer; answers go out in the order their requests came. An answer whose turn has
 * not come is held whole in memory (no back-pressure): enough for a benchmark's pipelining.
 */
class Answer implements Relay {
  #chunked = false;
  #started = false;
  #held: (Buffer | string)[] | null;
  #done = false;
  /** The upstream exchange's flow control, once it is sent. */
  flow: { resume(): void } | null = null;
  constructor(
    readonly conn: Connection,
    public close: boolean,
    first: boolean,
  ) {
    this.#held = first ? null : [];
  }
  #out(b: Buffer | string): boolean {
    if (this.#held) {
      this.#held.push(b);
      return true;
    }
    return this.conn.write(b);
  }
  head(status: number, contentType: string, contentLength: number | null): void {
    this.#chunked = contentLength === null;
    this.#started = true;
    this.#out(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: ${contentType}\r\n${
        this.#chunked ? 'transfer-encoding: chunked\r\n' : `content-length: ${contentLength}\r\n`
      }${date()}${this.close ? 'connection: close\r\n' : 'connection: keep-alive\r\n'}\r\n`,
    );
  }
  data(chunk: Buffer): boolean {
    // An empty piece (undici passes some on) would frame as the body's end.
    if (chunk.length === 0) return true;
    // Every piece of the frame is written whatever the first write says: the last one's answer is
    // the socket's state after all of them.
    if (this.#chunked) {
      this.#out(`${chunk.length.toString(16)}\r\n`);
      this.#out(chunk);
    }
    const ok = this.#out(this.#chunked ? '\r\n' : chunk);
    if (!ok) this.conn.socket.once('drain', () => this.flow?.resume());
    return ok;
  }
  end(): void {
    if (this.#chunked) this.#out('0\r\n\r\n');
    this.#done = true;
    this.conn.answered(this);
  }
  fail(): void {
    // Before its head: a 502 and the connection closed after it. After: the answer is cut.
    if (this.#started) {
      this.conn.socket.destroy();
      return;
    }
    this.#out('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
    this.#done = true;
    this.close = true;
    this.conn.answered(this);
  }
  /** Its turn: what it held goes out. Returns whether it is also over. */
  release(): boolean {
    const held = this.#held ?? [];
    this.#held = null;
    for (const b of held) this.conn.write(b);
    return this.#done;
  }
}

class Connection {
  readonly parser = llhttp.llhttp_alloc(REQUEST);
  readonly queue: Answer[] = [];
  #chunks: Buffer[] = [];
  #keepAlive = true;
  #corked = false;
  constructor(readonly socket: Socket) {}
  /** Writes of one turn go out together (one writev), as node:http's do. */
  write(b: Buffer | string): boolean {
    if (!this.#corked) {
      this.#corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        this.socket.uncork();
      });
    }
    return this.socket.write(b);
  }
  /**
   * The request's target and headers, as strings (names lower-cased), as any server that reads
   * them must make: node:http does, and a floor that skipped it would flatter node:net. Repeated
   * names keep their first value; a name or value split across reads is joined.
   */
  target = '';
  headers: Record<string, string> = {};
  #field = '';
  #value: string | null = null;
  begin(): number {
    this.#chunks = [];
    this.target = '';
    this.headers = {};
    this.#field = '';
    this.#value = null;
    return 0;
  }
  url(b: Buffer): number {
    this.target += b.toString('latin1');
    return 0;
  }
  field(b: Buffer): number {
    if (this.#value !== null) this.#header();
    this.#field += b.toString('latin1');
    return 0;
  }
  value(b: Buffer): number {
    this.#value = (this.#value ?? '') + b.toString('latin1');
    return 0;
  }
  #header(): void {
    const name = this.#field.toLowerCase();
    if (!(name in this.headers)) this.headers[name] = this.#value ?? '';
    this.#field = '';
    this.#value = null;
  }
  headersDone(keepAlive: boolean): number {
    if (this.#value !== null) this.#header();
    this.#keepAlive = keepAlive;
    return 0;
  }
  body(b: Buffer): number {
    this.#chunks.push(Buffer.from(b)); // a copy: the parser's input buffer is reused
    return 0;
  }
  complete(): number {
    const a = new Answer(this, !this.#keepAlive, this.queue.length === 0);
    this.queue.push(a);
    // The holder, not its function: the exchange sets resume() once the answer's head has come.
    a.flow = forward(Buffer.concat(this.#chunks), a);
    return 0;
  }
  answered(a: Answer): void {
    if (this.queue[0] !== a) return;
    this.queue.shift();
    if (a.close) this.socket.end();
    while (this.queue.length > 0 && this.queue[0]!.release()) {
      const next = this.queue.shift()!;
      if (next.close) this.socket.end();
    }
  }
  execute(chunk: Buffer): number {
    if (chunk.length > bufferBytes) {
      if (bufferAt) llhttp.free(bufferAt);
      bufferBytes = Math.ceil(chunk.length / 4096) * 4096;
      bufferAt = llhttp.malloc(bufferBytes);
    }
    new Uint8Array(llhttp.memory.buffer, bufferAt, bufferBytes).set(chunk);
    current = this;
    source = chunk;
    wasmAt = bufferAt;
    try {
      return llhttp.llhttp_execute(this.parser, bufferAt, chunk.length);
    } finally {
      current = null;
    }
  }
}

const server = createServer((socket) => {
  socket.setNoDelay(true);
  const conn = new Connection(socket);
  socket.on('data', (d: Buffer) => {
    if (conn.execute(d) !== 0)
      socket.end('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
  });
  socket.on('error', () => {});
  socket.once('close', () => llhttp.llhttp_free(conn.parser));
});
server.listen(0, '127.0.0.1', () =>
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`),
);
