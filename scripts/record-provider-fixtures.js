#!/usr/bin/env node
// Records the provider fixtures of the conformance suite (src/providers/*/__fixtures__) from the
// simulators: the exact bytes each simulated cloud sends for a fixed request. Run after
// `npm run build`; re-run only when a simulator's wire format changes on purpose.
import { writeFileSync } from 'node:fs';
import { startAnthropicSimulator, startBedrockSimulator, startGoogleSimulator } from '../dist/sim/index.js';

const root = new URL('../src/providers/', import.meta.url).pathname;
const tool = { name: 'get_weather', schema: { type: 'object', properties: { city: { type: 'string' } } } };

async function post(url, path, headers, body) {
  const r = await fetch(url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return Buffer.from(await r.arrayBuffer());
}

const bedrock = await startBedrockSimulator();
const bAuth = { authorization: 'Bearer fixture' };
const converse = (text, tools) => ({
  messages: [{ role: 'user', content: [{ text }] }],
  ...(tools
    ? { toolConfig: { tools: [{ toolSpec: { name: tool.name, inputSchema: { json: tool.schema } } }] } }
    : {}),
});
writeFileSync(
  `${root}bedrock/__fixtures__/converse-response.json`,
  await post(bedrock.url, '/model/m/converse', bAuth, converse('Hello there')),
);
writeFileSync(
  `${root}bedrock/__fixtures__/converse-stream-text.eventstream`,
  await post(bedrock.url, '/model/m/converse-stream', bAuth, converse('Hello there')),
);
writeFileSync(
  `${root}bedrock/__fixtures__/converse-stream-tool.eventstream`,
  await post(bedrock.url, '/model/m/converse-stream', bAuth, converse('Weather in Paris', true)),
);
const claude = (text, tools) => ({
  anthropic_version: 'bedrock-2023-05-31',
  max_tokens: 100,
  messages: [{ role: 'user', content: text }],
  ...(tools ? { tools: [{ name: tool.name, input_schema: tool.schema }] } : {}),
});
writeFileSync(
  `${root}anthropic/__fixtures__/bedrock-invoke-stream-text.eventstream`,
  await post(bedrock.url, '/model/m/invoke-with-response-stream', bAuth, claude('Hello there')),
);
await bedrock.close();

const google = await startGoogleSimulator();
const gAuth = { 'x-goog-api-key': 'fixture' };
const gen = (text, tools) => ({
  contents: [{ role: 'user', parts: [{ text }] }],
  ...(tools
    ? { tools: [{ functionDeclarations: [{ name: tool.name, parametersJsonSchema: tool.schema }] }] }
    : {}),
});
writeFileSync(
  `${root}google/__fixtures__/generate-content-response.json`,
  await post(google.url, '/v1/models/m:generateContent', gAuth, gen('Hello there')),
);
writeFileSync(
  `${root}google/__fixtures__/stream-text.chunks.txt`,
  await post(google.url, '/v1/models/m:streamGenerateContent?alt=sse', gAuth, gen('Hello there')),
);
writeFileSync(
  `${root}google/__fixtures__/stream-tool.chunks.txt`,
  await post(google.url, '/v1/models/m:streamGenerateContent?alt=sse', gAuth, gen('Weather in Paris', true)),
);
await google.close();

const anthropic = await startAnthropicSimulator();
const aAuth = { 'x-api-key': 'fixture', 'anthropic-version': '2023-06-01' };
const msg = (text, tools, stream) => ({
  model: 'm',
  ...claude(text, tools),
  anthropic_version: undefined,
  ...(stream ? { stream } : {}),
});
writeFileSync(
  `${root}anthropic/__fixtures__/message-response.json`,
  await post(anthropic.url, '/v1/messages', aAuth, msg('Hello there')),
);
writeFileSync(
  `${root}anthropic/__fixtures__/stream-text.chunks.txt`,
  await post(anthropic.url, '/v1/messages', aAuth, msg('Hello there', false, true)),
);
writeFileSync(
  `${root}anthropic/__fixtures__/stream-tool.chunks.txt`,
  await post(anthropic.url, '/v1/messages', aAuth, msg('Weather in Paris', true, true)),
);
await anthropic.close();
process.stdout.write('fixtures recorded\n');
