// AWS's binary event-stream framing (`application/vnd.amazon.eventstream`), used by Bedrock's
// ConverseStream and InvokeModelWithResponseStream. Encoded and decoded here only.
// Layout (https://docs.aws.amazon.com/transcribe/latest/dg/streaming-setting-up.html, event-stream
// encoding; all integers big-endian):
//   total_length u32 | headers_length u32 | prelude_crc u32 | headers | payload | message_crc u32
// header = name_len u8 | name | value_type u8 | value; both CRCs are IEEE CRC-32.
import { crc32 } from 'node:zlib';
import { EntenteError } from '../errors/index.js';

export type HeaderValue = string | number | boolean | Uint8Array | bigint | Date;

export interface EventStreamMessage {
  readonly headers: Readonly<Record<string, HeaderValue>>;
  readonly payload: Uint8Array;
}

export class EventStreamError extends EntenteError {
  constructor(message: string) {
    super('event_stream_corrupt', message);
    this.name = 'EventStreamError';
  }
}

const PRELUDE = 12;
const MAX_MESSAGE_BYTES = 16 * 1_048_576; // 16 MiB: AWS caps a message far below this

function encodeHeaders(headers: Readonly<Record<string, HeaderValue>>): Buffer {
  const out: Buffer[] = [];
  for (const [name, value] of Object.entries(headers)) {
    const n = Buffer.from(name, 'ascii');
    if (n.length > 255) throw new EventStreamError(`header name too long: ${name}`);
    let v: Buffer;
    if (typeof value === 'string') {
      const s = Buffer.from(value, 'utf8');
      v = Buffer.alloc(3 + s.length);
      v[0] = 7;
      v.writeUInt16BE(s.length, 1);
      s.copy(v, 3);
    } else if (typeof value === 'boolean') {
      v = Buffer.from([value ? 0 : 1]);
    } else if (typeof value === 'number') {
      v = Buffer.alloc(5);
      v[0] = 4;
      v.writeInt32BE(value, 1);
    } else if (typeof value === 'bigint') {
      v = Buffer.alloc(9);
      v[0] = 5;
      v.writeBigInt64BE(value, 1);
    } else if (value instanceof Date) {
      v = Buffer.alloc(9);
      v[0] = 8;
      v.writeBigInt64BE(BigInt(value.getTime()), 1);
    } else {
      v = Buffer.alloc(3 + value.length);
      v[0] = 6;
      v.writeUInt16BE(value.length, 1);
      Buffer.from(value).copy(v, 3);
    }
    out.push(Buffer.from([n.length]), n, v);
  }
  return Buffer.concat(out);
}

export function encodeMessage(msg: EventStreamMessage): Buffer {
  const hs = encodeHeaders(msg.headers);
  const total = PRELUDE + hs.length + msg.payload.length + 4;
  const m = Buffer.alloc(total);
  m.writeUInt32BE(total, 0);
  m.writeUInt32BE(hs.length, 4);
  m.writeUInt32BE(crc32(m.subarray(0, 8)), 8);
  hs.copy(m, PRELUDE);
  Buffer.from(msg.payload.buffer, msg.payload.byteOffset, msg.payload.byteLength).copy(
    m,
    PRELUDE + hs.length,
  );
  m.writeUInt32BE(crc32(m.subarray(0, total - 4)), total - 4);
  return m;
}

/** An `event` message with a JSON payload, as Bedrock sends it. */
export function encodeEvent(eventType: string, payload: unknown): Buffer {
  return encodeMessage({
    headers: { ':event-type': eventType, ':content-type': 'application/json', ':message-type': 'event' },
    payload: Buffer.from(JSON.stringify(payload)),
  });
}

/** An `exception` message (e.g. throttlingException) inside a 200 stream. */
export function encodeException(exceptionType: string, payload: unknown): Buffer {
  return encodeMessage({
    headers: {
      ':exception-type': exceptionType,
      ':content-type': 'application/json',
      ':message-type': 'exception',
    },
    payload: Buffer.from(JSON.stringify(payload)),
  });
}

function decodeHeaders(buf: Buffer): Record<string, HeaderValue> {
  const out: Record<string, HeaderValue> = {};
  let i = 0;
  while (i < buf.length) {
    const nameLen = buf[i]!;
    const name = buf.toString('ascii', i + 1, i + 1 + nameLen);
    i += 1 + nameLen;
    const type = buf[i++];
    switch (type) {
      case 0:
        out[name] = true;
        break;
      case 1:
        out[name] = false;
        break;
      case 2:
        out[name] = buf.readInt8(i);
        i += 1;
        break;
      case 3:
        out[name] = buf.readInt16BE(i);
        i += 2;
        break;
      case 4:
        out[name] = buf.readInt32BE(i);
        i += 4;
        break;
      case 5:
        out[name] = buf.readBigInt64BE(i);
        i += 8;
        break;
      case 6: {
        const len = buf.readUInt16BE(i);
        out[name] = new Uint8Array(buf.subarray(i + 2, i + 2 + len));
        i += 2 + len;
        break;
      }
      case 7: {
        const len = buf.readUInt16BE(i);
        out[name] = buf.toString('utf8', i + 2, i + 2 + len);
        i += 2 + len;
        break;
      }
      case 8:
        out[name] = new Date(Number(buf.readBigInt64BE(i)));
        i += 8;
        break;
      case 9:
        out[name] = new Uint8Array(buf.subarray(i, i + 16));
        i += 16;
        break;
      default:
        throw new EventStreamError(`unknown header value type ${type} for '${name}'`);
    }
    if (i > buf.length) throw new EventStreamError(`header '${name}' runs past the headers`);
  }
  return out;
}

/**
 * Incremental decoder: bytes in as they arrive, whole messages out. Checks both CRCs; a corrupt
 * or oversized message throws, since nothing after it can be trusted.
 */
export class EventStreamDecoder {
  #buf: Buffer = Buffer.alloc(0);

  push(chunk: Uint8Array): EventStreamMessage[] {
    const c = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.#buf = this.#buf.length === 0 ? c : Buffer.concat([this.#buf, c]);
    const out: EventStreamMessage[] = [];
    while (this.#buf.length >= PRELUDE) {
      const b = this.#buf;
      const total = b.readUInt32BE(0);
      const headersLen = b.readUInt32BE(4);
      if (crc32(b.subarray(0, 8)) !== b.readUInt32BE(8))
        throw new EventStreamError('event-stream prelude checksum mismatch');
      if (total > MAX_MESSAGE_BYTES || total < PRELUDE + 4 + headersLen)
        throw new EventStreamError(`event-stream message length ${total} is not valid`);
      if (b.length < total) break;
      if (crc32(b.subarray(0, total - 4)) !== b.readUInt32BE(total - 4))
        throw new EventStreamError('event-stream message checksum mismatch');
      out.push({
        headers: decodeHeaders(b.subarray(PRELUDE, PRELUDE + headersLen)),
        payload: b.subarray(PRELUDE + headersLen, total - 4),
      });
      this.#buf = b.subarray(total);
    }
    return out;
  }

  /** Bytes left over: a truncated message when the stream has ended. */
  get pendingBytes(): number {
    return this.#buf.length;
  }
}

/**
 * Event-stream messages as the `{ event, data }` events stream mappers take: an event message
 * becomes its `:event-type` and JSON payload; an exception `exception:<type>`; an error message
 * `error:<code>` with its message as the data.
 */
export class EventStreamEventParser {
  readonly #decoder = new EventStreamDecoder();
  readonly #text = new TextDecoder();

  push(chunk: Uint8Array): { event: string; data: string }[] {
    return this.#decoder.push(chunk).map((m) => {
      const type = m.headers[':message-type'];
      if (type === 'exception')
        return {
          event: `exception:${String(m.headers[':exception-type'])}`,
          data: this.#text.decode(m.payload),
        };
      if (type === 'error')
        return {
          event: `error:${String(m.headers[':error-code'])}`,
          data: JSON.stringify({ message: String(m.headers[':error-message'] ?? '') }),
        };
      return { event: String(m.headers[':event-type'] ?? ''), data: this.#text.decode(m.payload) };
    });
  }

  end(): { event: string; data: string }[] {
    if (this.#decoder.pendingBytes > 0) throw new EventStreamError('truncated event-stream message');
    return [];
  }
}
