// A fast mock OpenAI upstream for the benchmark: precomputed bodies, no parsing beyond the
// `stream` flag, so the gateway under test is what the numbers measure.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeEvent } from '../src/eventstream/index.js';

const completion = Buffer.from(
  JSON.stringify({
    id: 'chatcmpl-bench',
    object: 'chat.completion',
    created: 1700000000,
    model: 'gpt-4o-mini',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: 'This is a benchmark reply of a few words.', refusal: null },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: {
      prompt_tokens: 12,
      completion_tokens: 9,
      total_tokens: 21,
      prompt_tokens_details: { cached_tokens: 0 },
      completion_tokens_details: { reasoning_tokens: 0 },
    },
  }),
);
const chunk = (delta: object, finish: string | null) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1700000000, model: 'gpt-4o-mini', choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null })}\n\n`;
const words = 'This is a benchmark reply of a few words.'.split(' ');
const frames = [
  chunk({ role: 'assistant', content: '' }, null),
  ...words.map((w, i) => chunk({ content: (i ? ' ' : '') + w }, null)),
  chunk({}, 'stop'),
];
const usageFrame = `data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1700000000, model: 'gpt-4o-mini', choices: [], usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 } })}\n\n`;
const head = Buffer.from(frames[0]! + frames[1]!);
const rest = Buffer.from(frames.slice(2).join(''));
const restWithUsage = Buffer.from(frames.slice(2).join('') + usageFrame);
const done = Buffer.from('data: [DONE]\n\n');

// The same reply as Bedrock Converse / ConverseStream would send it (binary event stream).
const converse = Buffer.from(
  JSON.stringify({
    output: { message: { role: 'assistant', content: [{ text: words.join(' ') }] } },
    stopReason: 'end_turn',
    usage: { inputTokens: 12, outputTokens: 9, totalTokens: 21 },
    metrics: { latencyMs: 1 },
  }),
);
const bedrockHead = Buffer.concat([
  encodeEvent('messageStart', { role: 'assistant' }),
  encodeEvent('contentBlockDelta', { contentBlockIndex: 0, delta: { text: words[0] } }),
]);
const bedrockRest = Buffer.concat([
  ...words
    .slice(1)
    .map((w) => encodeEvent('contentBlockDelta', { contentBlockIndex: 0, delta: { text: ` ${w}` } })),
  encodeEvent('contentBlockStop', { contentBlockIndex: 0 }),
  encodeEvent('messageStop', { stopReason: 'end_turn' }),
  encodeEvent('metadata', {
    usage: { inputTokens: 12, outputTokens: 9, totalTokens: 21 },
    metrics: { latencyMs: 1 },
  }),
]);

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    if (req.url?.startsWith('/model/')) {
      if (req.url.endsWith('/converse-stream')) {
        res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream' });
        res.write(bedrockHead);
        setImmediate(() => res.end(bedrockRest));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': converse.length });
      res.end(converse);
      return;
    }
    if (body.includes('"stream":true')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // The first token goes out at once; the rest follows on the next turn of the loop.
      res.write(head);
      const usage = body.includes('"include_usage":true');
      setImmediate(() => {
        res.write(usage ? restWithUsage : rest);
        res.end(done);
      });
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': completion.length });
    res.end(completion);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
