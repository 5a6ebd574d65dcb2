// What reading a streamed answer costs the serving thread: an upstream's SSE bytes parsed into
// events and mapped to the client's frames, per stream. The OpenAI stream mapper as shipped (a
// content chunk of a learnt shape is not parsed) beside the same mapping with every chunk parsed
// (mapOpenAIChunk), in alternating rounds of one process. Streams: the gateway bench's mock answer
// (13 events), and a longer one (400 content chunks), each as one buffer and cut into 64-byte reads,
// and the longer one with OpenAI's padding field (`obfuscation`, after the usage) in every chunk.
// Bedrock's ConverseStream, Anthropic's Messages stream and Gemini's streamGenerateContent beside
// them: each mapper as shipped against the same with `shapes: false`.
//
//   npm run bench:stream-read            BENCH_ROUNDS=9 BENCH_STREAMS=20000
import { performance } from 'node:perf_hooks';
import { EventStreamEventParser, encodeEvent } from '../src/eventstream/index.js';
import { createMessagesStreamMapper } from '../src/providers/anthropic/stream.js';
import { createConverseStreamMapper } from '../src/providers/bedrock/stream.js';
import { createGeminiStreamMapper } from '../src/providers/google/stream.js';
import { createOpenAIStreamMapper, mapOpenAIChunk } from '../src/providers/openai/stream.js';
import { SseParser } from '../src/sse/index.js';
import { median } from './processes.js';

const rounds = Number(process.env.BENCH_ROUNDS ?? 9);
const streams = Number(process.env.BENCH_STREAMS ?? 20_000);
const opts = { clientWantsUsage: false, model: 'gpt-4o-mini', id: 'chatcmpl-bench', created: 1700000000 };

/** A chunk; with `pad`, OpenAI's padding after the usage field, of another length each time. */
const chunk = (delta: object, finish: string | null, pad?: string) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1700000000, model: 'gpt-4o-mini', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null, ...(pad !== undefined ? { obfuscation: pad } : {}) })}\n\n`;
const usage = `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1700000000, model: 'gpt-4o-mini', choices: [], usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 } })}\n\n`;
function streamOf(words: readonly string[], padded = false): string {
  const pad = (i: number) => (padded ? 'Xq7Zp2'.slice(0, i % 7) : undefined);
  return [
    chunk({ role: 'assistant', content: '' }, null, pad(0)),
    ...words.map((w, i) => chunk({ content: (i ? ' ' : '') + w }, null, pad(i))),
    chunk({}, 'stop'),
    usage,
    'data: [DONE]\n\n',
  ].join('');
}
const cut = (b: Buffer, size: number) =>
  Array.from({ length: Math.ceil(b.length / size) }, (_, i) => b.subarray(i * size, (i + 1) * size));

const short = Buffer.from(streamOf('This is a short answer from the mock upstream.'.split(' ')));
const longWords = Array.from({ length: 400 }, (_, i) => `w${i % 37}"é`);
const long = Buffer.from(streamOf(longWords));
const longPadded = Buffer.from(streamOf(longWords, true));
/** Bedrock's ConverseStream, as real Bedrock pads each payload (`p`, of a random length). */
const bedrock = Buffer.concat([
  encodeEvent('messageStart', { role: 'assistant' }),
  ...longWords.map((w, i) =>
    encodeEvent('contentBlockDelta', {
      contentBlockIndex: 0,
      delta: { text: ` ${w}` },
      p: 'abcdefghij'.slice(0, i % 11),
    }),
  ),
  encodeEvent('contentBlockStop', { contentBlockIndex: 0 }),
  encodeEvent('messageStop', { stopReason: 'end_turn' }),
  encodeEvent('metadata', {
    usage: { inputTokens: 12, outputTokens: 400, totalTokens: 412 },
    metrics: { latencyMs: 1 },
  }),
]);

/** Anthropic's Messages stream: named SSE events, a text delta per word. */
const sse = (event: string, data: object) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
const anthropic = Buffer.from(
  [
    sse('message_start', {
      type: 'message_start',
      message: {
        id: 'msg_1',
        type: 'message',
        role: 'assistant',
        usage: { input_tokens: 12, output_tokens: 1 },
      },
    }),
    sse('content_block_start', {
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'text', text: '' },
    }),
    ...longWords.map((w) =>
      sse('content_block_delta', {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'text_delta', text: ` ${w}` },
      }),
    ),
    sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
    sse('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { output_tokens: 400 },
    }),
    sse('message_stop', { type: 'message_stop' }),
  ].join(''),
);

/** Gemini's stream: a text part per word, the running usage in every chunk, the finish last. */
const geminiChunk = (parts: object[], count: number, finish?: string) =>
  `data: ${JSON.stringify({
    candidates: [
      { content: { parts, role: 'model' }, ...(finish ? { finishReason: finish } : {}), index: 0 },
    ],
    usageMetadata: {
      promptTokenCount: 12,
      candidatesTokenCount: count,
      totalTokenCount: 12 + count,
      promptTokensDetails: [{ modality: 'TEXT', tokenCount: 12 }],
    },
    modelVersion: 'gemini-2.5-flash',
    responseId: 'mKq9aP2bN4yW1e8PxYz3qQ4',
  })}\r\n\r\n`;
const gemini = Buffer.from(
  [
    ...longWords.map((w, i) => geminiChunk([{ text: ` ${w}` }], i + 1)),
    geminiChunk([{ text: '' }], 400, 'STOP'),
  ].join(''),
);

type Kind = 'openai' | 'bedrock' | 'anthropic' | 'gemini';
const cases: { name: string; reads: Buffer[]; n: number; kind?: Kind }[] = [
  { name: 'mock answer (13 events), one read', reads: [short], n: streams },
  { name: 'mock answer, 64-byte reads', reads: cut(short, 64), n: streams },
  { name: '400 content chunks, one read', reads: [long], n: Math.ceil(streams / 30) },
  { name: '400 content chunks, 64-byte reads', reads: cut(long, 64), n: Math.ceil(streams / 30) },
  {
    name: '400 content chunks padded as OpenAI pads them, one read',
    reads: [longPadded],
    n: Math.ceil(streams / 30),
  },
  {
    name: 'Bedrock: 400 text deltas padded as Bedrock pads them, one read',
    reads: [bedrock],
    n: Math.ceil(streams / 30),
    kind: 'bedrock',
  },
  {
    name: 'Anthropic: 400 text deltas, one read',
    reads: [anthropic],
    n: Math.ceil(streams / 30),
    kind: 'anthropic',
  },
  { name: 'Gemini: 400 text chunks, one read', reads: [gemini], n: Math.ceil(streams / 30), kind: 'gemini' },
];

let sink = 0;
/** µs per stream: parse every read, map every event. */
function run(c: (typeof cases)[number], shipped: boolean): number {
  const t0 = performance.now();
  for (let i = 0; i < c.n; i++) {
    if (c.kind === 'bedrock') {
      const parser = new EventStreamEventParser();
      const mapper = createConverseStreamMapper(opts, { shapes: shipped });
      for (const r of c.reads) for (const ev of parser.push(r)) sink += mapper.map(ev).frames.length;
      continue;
    }
    const parser = new SseParser();
    if (c.kind === 'anthropic' || c.kind === 'gemini') {
      const mapper = (c.kind === 'anthropic' ? createMessagesStreamMapper : createGeminiStreamMapper)(opts, {
        shapes: shipped,
      });
      for (const r of c.reads) for (const ev of parser.push(r)) sink += mapper.map(ev).frames.length;
      continue;
    }
    const mapper = shipped ? createOpenAIStreamMapper(opts) : null;
    for (const r of c.reads)
      for (const ev of parser.push(r))
        sink += (mapper ? mapper.map(ev) : mapOpenAIChunk(ev, opts)).frames.length;
  }
  return ((performance.now() - t0) * 1000) / c.n;
}

console.log(`# Reading streams: ${rounds} alternating rounds, median µs per stream\n`);
console.log('| stream | every chunk parsed | as shipped | as shipped / parsed |');
console.log('| --- | --- | --- | --- |');
for (const c of cases) {
  run(c, true);
  run(c, false);
  const parsed: number[] = [];
  const shipped: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const first = r % 2 === 0;
    const a = first ? run(c, false) : 0;
    const b = run(c, true);
    const a2 = first ? a : run(c, false);
    parsed.push(a2);
    shipped.push(b);
    ratios.push(b / a2);
  }
  console.log(
    `| ${c.name} | ${median(parsed).toFixed(2)} | ${median(shipped).toFixed(2)} | ×${median(ratios).toFixed(2)} (×${Math.min(...ratios).toFixed(2)}–×${Math.max(...ratios).toFixed(2)}) |`,
  );
}
if (sink === 0) console.log('');
