// Bedrock's wire details, against independent judges: our SigV4 signer against the AWS SDK's own
// (@smithy/signature-v4), and our event-stream codec against the frame recorded in
// AWS event-stream encoding (the AWS SDK also decodes the simulator's frames, written by
// this encoder, in test/cloud-sims-sdk.test.ts).
import assert from 'node:assert/strict';
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { test } from 'node:test';
import { SignatureV4 } from '@smithy/signature-v4';
import fc from 'fast-check';
import {
  EventStreamDecoder,
  EventStreamError,
  encodeEvent,
  encodeMessage,
} from '../src/eventstream/index.js';
import { signV4 } from '../src/providers/index.js';

const bytes = (d: string | ArrayBuffer | ArrayBufferView): string | Buffer =>
  typeof d === 'string'
    ? d
    : d instanceof ArrayBuffer
      ? Buffer.from(d)
      : Buffer.from(d.buffer, d.byteOffset, d.byteLength);

class NodeSha256 {
  readonly #h: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#h = secret ? createHmac('sha256', bytes(secret)) : createHash('sha256');
  }
  update(data: string | ArrayBuffer | ArrayBufferView) {
    this.#h.update(bytes(data));
  }
  async digest() {
    return new Uint8Array(this.#h.digest());
  }
}

test('SigV4: the same Authorization header as the AWS SDK signer, for random bodies and model ids', async () => {
  const credentials = {
    accessKeyId: 'AKIDEXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  };
  await fc.assert(
    fc.asyncProperty(
      fc.string(),
      fc.constantFrom(
        'anthropic.claude-sonnet-4-5-20250929-v1:0',
        'us.amazon.nova-pro-v1:0',
        'arn:aws:bedrock:us-east-1:123:inference-profile/x',
      ),
      // The last: a string to sign too long for the HMAC's kept buffer (its fallback path).
      fc.constantFrom('us-east-1', 'eu-west-3', `region-${'x'.repeat(400)}`),
      fc.option(fc.constantFrom('session-token-1'), { nil: undefined }),
      fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2035, 0, 1) }),
      async (text, modelId, region, sessionToken, nowMs) => {
        const body = JSON.stringify({ messages: [{ role: 'user', content: [{ text }] }] });
        const path = `/model/${encodeURIComponent(modelId)}/converse`;
        const creds = sessionToken ? { ...credentials, sessionToken } : credentials;
        const base = { 'content-type': 'application/json', accept: 'application/json' };
        const ours = signV4({
          method: 'POST',
          path,
          host: 'bedrock-runtime.us-east-1.amazonaws.com',
          headers: base,
          body,
          region,
          service: 'bedrock',
          credentials: creds,
          nowMs,
        });
        const signer = new SignatureV4({
          credentials: creds,
          region,
          service: 'bedrock',
          sha256: NodeSha256,
        });
        const signed = await signer.sign(
          {
            method: 'POST',
            protocol: 'https:',
            hostname: 'bedrock-runtime.us-east-1.amazonaws.com',
            path,
            query: {},
            headers: {
              ...base,
              host: 'bedrock-runtime.us-east-1.amazonaws.com',
              'x-amz-content-sha256': createHash('sha256').update(body).digest('hex'),
            },
            body,
          },
          { signingDate: new Date(nowMs) },
        );
        assert.equal(ours.authorization, signed.headers.authorization);
        assert.equal(ours['x-amz-date'], signed.headers['x-amz-date']);
      },
    ),
    { numRuns: 60 },
  );
});

test('event stream: the frame recorded from the AWS SDK, byte for byte', () => {
  const frame = encodeEvent('contentBlockDelta', { contentBlockIndex: 0, delta: { text: 'Hi' } });
  assert.equal(frame.length, 148);
  assert.equal(frame.subarray(0, 12).toString('hex'), '0000009400000057b4ab9aee');
  assert.equal(frame.subarray(-4).toString('hex'), '1f944657');
  const [m] = new EventStreamDecoder().push(frame);
  assert.equal(m!.headers[':event-type'], 'contentBlockDelta');
  assert.equal(Buffer.from(m!.payload).toString(), '{"contentBlockIndex":0,"delta":{"text":"Hi"}}');
});

test('event stream: any split of the bytes decodes the same messages; every header type round-trips', () => {
  const msgs = [
    encodeEvent('messageStart', { role: 'assistant' }),
    encodeMessage({
      headers: {
        s: 'x',
        t: true,
        f: false,
        i: -7,
        l: 9_007_199_254_740_993n,
        b: new Uint8Array([1, 2]),
        d: new Date(5),
      },
      payload: new Uint8Array([0xff, 0x00]),
    }),
    encodeEvent('metadata', { usage: { inputTokens: 1 } }),
  ];
  const all = Buffer.concat(msgs);
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: all.length - 1 }), { maxLength: 12 }), (cuts) => {
      const d = new EventStreamDecoder();
      const out = [];
      let at = 0;
      for (const c of [...cuts.sort((a, b) => a - b), all.length]) {
        out.push(...d.push(all.subarray(at, c)));
        at = c;
      }
      assert.equal(out.length, 3);
      assert.deepEqual(out[1]!.headers, {
        s: 'x',
        t: true,
        f: false,
        i: -7,
        l: 9_007_199_254_740_993n,
        b: new Uint8Array([1, 2]),
        d: new Date(5),
      });
      assert.equal(d.pendingBytes, 0);
    }),
  );
});

test('event stream: a corrupt prelude or payload is refused', () => {
  const frame = encodeEvent('messageStop', { stopReason: 'end_turn' });
  const badPrelude = Buffer.from(frame);
  badPrelude[2] = 0x7f;
  assert.throws(() => new EventStreamDecoder().push(badPrelude), EventStreamError);
  const badPayload = Buffer.from(frame);
  badPayload[frame.length - 10] = badPayload[frame.length - 10]! ^ 0x01;
  assert.throws(() => new EventStreamDecoder().push(badPayload), /checksum/);
});
