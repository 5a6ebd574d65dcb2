// Billing what was used: clients that hang up in the middle of a stream are recorded with the
// prompt and the output they were sent, marked client-closed and inexact, and priced into the
// ledger; a client that leaves during a JSON answer gets the upstream's exact usage recorded.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { estimatePromptTokens } from '../src/canonical/index.js';
import { parsePriceBooks } from '../src/ledger/index.js';
import { eventually } from './helpers/eventually.js';
import { DEMO_KEY, type Stack, startStack } from './helpers/stack.js';

const PRICES = `currency: USD
books:
  - id: list
    effectiveFrom: 2025-01-01T00:00:00Z
    prices:
      - { model: gpt-4o, inputUncached: "2.50", inputCached: "1.25", output: "10.00" }
`;

describe('clients that hang up are billed what they used', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ priceBooks: parsePriceBooks(PRICES, 'prices.yaml') });
  });
  after(() => stack.close());

  /** Streams, reads `chunks` content chunks, hangs up; resolves with the request id and the text read. */
  async function hangUpAfter(chunks: number, words: number) {
    const ac = new AbortController();
    const messages = [
      { role: 'user', content: Array.from({ length: words }, (_, i) => `word${i}`).join(' ') },
    ];
    const r = await fetch(`${stack.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', stream: true, messages }),
      signal: ac.signal,
    });
    const reader = r.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    let seen = 0;
    while (seen < chunks) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
      seen = (text.match(/"content":"[^"]+"/g) ?? []).length;
    }
    ac.abort();
    return { id: r.headers.get('x-request-id')!, seen, messages };
  }

  test('60 streams abandoned mid-way: each record carries the prompt and the output sent, and is priced', async () => {
    stack.azure.settings.tokensPerSecond = 200; // a few ms per word: the hang-up lands mid-stream
    try {
      const words = 40; // the simulated reply echoes the prompt: about 45 words
      const runs = await Promise.all(Array.from({ length: 60 }, (_, i) => hangUpAfter(5 + (i % 20), words)));
      // The gateway hears of each hang-up on its own time: wait until all 60 are recorded.
      await eventually(async () => {
        await stack.gateway.context.usageLog.flush();
        for (const run of runs)
          if ((await stack.store.listUsage({ requestId: run.id })).length !== 1) return false;
        return true;
      }, 'a record for every abandoned stream');
      for (const run of runs) {
        const [u] = await stack.store.listUsage({ requestId: run.id });
        assert.ok(u, run.id);
        assert.equal(u.status, 499);
        assert.equal(u.errorCode, 'client_closed');
        assert.equal(u.usageExact, false);
        assert.equal(u.tokensInputUncached, estimatePromptTokens({ messages: run.messages }));
        assert.ok(u.tokensOutput >= run.seen, `${u.tokensOutput} output tokens, the client read ${run.seen}`);
        assert.ok(u.tokensOutput < words + 10, 'not billed the whole answer it never got');
      }
      // Priced into the ledger: a revenue transaction with a positive receivable for each.
      await eventually(async () => (await stack.store.pendingUsage(1)).length === 0, 'the postings');
      const rows = await stack.store.ledgerRows();
      for (const run of runs) {
        const receivable = rows.find(
          (r) => r.txId === `revenue:${run.id}` && r.account.startsWith('receivable:'),
        );
        assert.ok(receivable && receivable.amountMicros > 0n, `${run.id} priced`);
      }
    } finally {
      stack.azure.settings.tokensPerSecond = 0;
    }
  });

  test('a Responses API stream abandoned mid-way (the openai SDK as client) is billed the same way', async () => {
    stack.azure.settings.tokensPerSecond = 200;
    try {
      const client = new OpenAI({ baseURL: stack.baseURL, apiKey: DEMO_KEY, maxRetries: 0 });
      const input = Array.from({ length: 40 }, (_, i) => `word${i}`).join(' ');
      const { data, response } = await client.responses
        .create({ model: 'gpt-4o', input, stream: true })
        .withResponse();
      let seen = 0;
      // Leaving the loop closes the connection.
      for await (const ev of data) if (ev.type === 'response.output_text.delta' && ++seen === 3) break;
      const id = response.headers.get('x-request-id')!;
      const u = await eventually(async () => {
        await stack.gateway.context.usageLog.flush();
        return (await stack.store.listUsage({ requestId: id }))[0];
      }, 'the record of the abandoned Responses stream');
      assert.equal(u.status, 499);
      assert.equal(u.errorCode, 'client_closed');
      assert.equal(u.surface, 'responses');
      assert.equal(u.tokensInputUncached, estimatePromptTokens({ messages: [{ content: input }] }));
      assert.ok(u.tokensOutput >= seen && u.tokensOutput < 50, `${u.tokensOutput} output tokens`);
    } finally {
      stack.azure.settings.tokensPerSecond = 0;
    }
  });

  test("a client that leaves during a JSON answer: the upstream's exact usage is recorded", async () => {
    stack.azure.settings.latencyMs = 300;
    try {
      const ac = new AbortController();
      const seen = stack.azure.requests.length;
      const pending = fetch(`${stack.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'gpt-4o',
          messages: [{ role: 'user', content: 'leave before the answer' }],
        }),
        signal: ac.signal,
      });
      await eventually(() => stack.azure.requests.length > seen, 'the upstream to receive the request');
      ac.abort();
      await assert.rejects(pending);
      const u = await eventually(async () => {
        await stack.gateway.context.usageLog.flush();
        return (await stack.store.listUsage({ limit: 5 })).find(
          (r) => r.errorCode === 'client_closed' && !r.stream,
        );
      }, 'the record of the abandoned JSON request');
      assert.equal(u.status, 499);
      assert.equal(u.usageExact, true);
      assert.ok(u.tokensInputUncached > 0 && u.tokensOutput > 0);
    } finally {
      stack.azure.settings.latencyMs = 0;
    }
  });
});
