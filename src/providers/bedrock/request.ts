// Canonical → Bedrock Converse (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html).
// https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html
import type { ChatRequest } from '../../canonical/index.js';
import { normalizeChat, type Part, resultAsObject, type Unsupported, unsupported } from '../spec/index.js';

const IMAGE_FORMATS: Record<string, string> = {
  'image/png': 'png',
  'image/jpeg': 'jpeg',
  'image/jpg': 'jpeg',
  'image/gif': 'gif',
  'image/webp': 'webp',
};

export interface ConverseBody {
  readonly body: Record<string, unknown>;
  readonly warnings: string[];
}

function block(p: Part): Record<string, unknown> | Unsupported {
  switch (p.type) {
    case 'text':
      return { text: p.text };
    case 'image': {
      const format = IMAGE_FORMATS[p.mediaType];
      if (!format)
        return unsupported('messages', `Bedrock takes png, jpeg, gif or webp images, not ${p.mediaType}.`);
      return { image: { format, source: { bytes: p.base64 } } };
    }
    case 'image_url':
      // Fetching a client-named URL from inside the gateway would be a server-side request forgery.
      return unsupported(p.param, 'Bedrock needs images inline: send them as base64 data: URLs.');
    case 'tool_call':
      return { toolUse: { toolUseId: p.id, name: p.name, input: p.input ?? {} } };
    case 'tool_result': {
      const json = resultAsObject(p.content);
      return {
        toolResult: { toolUseId: p.id, content: [json ? { json } : { text: p.content }], status: 'success' },
      };
    }
  }
}

export function toConverseBody(req: ChatRequest): ConverseBody | Unsupported {
  const n = normalizeChat(req, 'bedrock');
  if ('unsupported' in n) return n;
  const warnings = n.warnings;
  const messages: Record<string, unknown>[] = [];
  for (const t of n.turns) {
    const content: Record<string, unknown>[] = [];
    for (const p of t.parts) {
      const b = block(p);
      if ('unsupported' in b) return b as Unsupported;
      content.push(b);
    }
    messages.push({ role: t.role, content });
  }
  const body: Record<string, unknown> = { messages };
  const system = n.system.filter((s) => s.length > 0);
  if (system.length > 0) body.system = system.map((text) => ({ text }));
  const inference: Record<string, unknown> = {};
  if (n.maxTokens !== null) inference.maxTokens = n.maxTokens;
  if (req.temperature != null) inference.temperature = req.temperature;
  if (req.top_p != null) inference.topP = req.top_p;
  if (n.stop.length > 0) inference.stopSequences = n.stop;
  if (Object.keys(inference).length > 0) body.inferenceConfig = inference;

  let tools = n.tools;
  if (n.toolChoice?.kind === 'none') {
    // Converse has no "none": drop the tools, unless the history holds tool blocks (then Bedrock
    // requires toolConfig and cannot be told not to call).
    if (n.hasToolHistory)
      return unsupported(
        'tool_choice',
        "Bedrock cannot forbid tool calls in a conversation that already holds them; use 'auto'.",
      );
    tools = [];
  }
  if (tools.length > 0) {
    const toolConfig: Record<string, unknown> = {
      tools: tools.map((t) => ({
        toolSpec: {
          name: t.name,
          ...(t.description ? { description: t.description } : {}),
          inputSchema: { json: t.parameters },
        },
      })),
    };
    const c = n.toolChoice;
    if (c?.kind === 'auto') toolConfig.toolChoice = { auto: {} };
    else if (c?.kind === 'required') toolConfig.toolChoice = { any: {} };
    else if (c?.kind === 'named') toolConfig.toolChoice = { tool: { name: c.name } };
    body.toolConfig = toolConfig;
  } else if (n.hasToolHistory) {
    return unsupported('tools', 'Bedrock needs the tool definitions when the conversation holds tool calls.');
  }
  if (req.parallel_tool_calls === false)
    warnings.push("ignored 'parallel_tool_calls': Converse has no such switch");

  const rf = req.response_format;
  if (rf?.type === 'json_object')
    return unsupported(
      'response_format',
      "Bedrock Converse has no JSON mode; use response_format type 'json_schema' with a schema.",
    );
  if (rf?.type === 'json_schema') {
    body.outputConfig = {
      textFormat: {
        type: 'json_schema',
        structure: {
          jsonSchema: {
            schema: JSON.stringify(rf.json_schema.schema ?? {}),
            name: rf.json_schema.name,
            ...(rf.json_schema.description ? { description: rf.json_schema.description } : {}),
          },
        },
      },
    };
  }
  for (const k of ['presence_penalty', 'frequency_penalty', 'seed', 'reasoning_effort'] as const) {
    if (req[k] != null) warnings.push(`ignored '${k}': Converse has no model-independent field for it`);
  }
  if (req.user) body.requestMetadata = { user: req.user.slice(0, 256) };
  return { body, warnings };
}
