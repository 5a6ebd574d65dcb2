// POST /v1/responses → the canonical chat request (https://platform.openai.com/docs/api-reference/responses and its
// mapping notes). Every provider serves the Responses API through this translation: `input`
// items become messages, `instructions` the system message, flat function tools become chat
// tools, `text.format` becomes `response_format`. What has no chat equivalent (stored
// conversations, built-in tools) is refused with the parameter named, never dropped.
import { z } from 'zod';

const inputText = z.looseObject({ type: z.literal('input_text'), text: z.string() });
const outputText = z.looseObject({ type: z.literal('output_text'), text: z.string() });
const inputImage = z.looseObject({
  type: z.literal('input_image'),
  image_url: z.string().min(1),
  detail: z.enum(['auto', 'low', 'high']).optional(),
});
const refusal = z.looseObject({ type: z.literal('refusal'), refusal: z.string() });
const messageItem = z.looseObject({
  type: z.literal('message').optional(),
  role: z.enum(['user', 'assistant', 'system', 'developer']),
  content: z.union([
    z.string(),
    z.array(z.discriminatedUnion('type', [inputText, outputText, inputImage, refusal])).min(1),
  ]),
});
const functionCall = z.looseObject({
  type: z.literal('function_call'),
  call_id: z.string().min(1),
  name: z.string().min(1),
  arguments: z.string(),
});
const functionCallOutput = z.looseObject({
  type: z.literal('function_call_output'),
  call_id: z.string().min(1),
  output: z.union([z.string(), z.array(z.looseObject({ type: z.string() }))]),
});
const inputItem = z.union([functionCall, functionCallOutput, messageItem]);

const functionTool = z.looseObject({
  type: z.literal('function'),
  name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/),
  description: z.string().nullable().optional(),
  parameters: z.record(z.string(), z.unknown()).nullable().optional(),
  strict: z.boolean().nullable().optional(),
});

const textFormat = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('text') }),
  z.looseObject({ type: z.literal('json_object') }),
  z.looseObject({
    type: z.literal('json_schema'),
    name: z.string().min(1).max(64),
    schema: z.record(z.string(), z.unknown()),
    description: z.string().optional(),
    strict: z.boolean().nullable().optional(),
  }),
]);

export const responsesRequestSchema = z.looseObject({
  model: z.string().min(1).max(256),
  input: z.union([z.string(), z.array(inputItem).min(1)]),
  instructions: z.string().nullable().optional(),
  tools: z
    .array(z.looseObject({ type: z.string() }))
    .max(128)
    .optional(),
  tool_choice: z
    .union([
      z.enum(['auto', 'none', 'required']),
      z.looseObject({ type: z.literal('function'), name: z.string().min(1) }),
    ])
    .optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  max_output_tokens: z.number().int().positive().nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  text: z.looseObject({ format: textFormat.optional() }).nullable().optional(),
  reasoning: z
    .looseObject({
      effort: z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']).nullable().optional(),
    })
    .nullable()
    .optional(),
  stream: z.boolean().nullable().optional(),
  store: z.boolean().nullable().optional(),
  previous_response_id: z.string().nullable().optional(),
  user: z.string().max(512).optional(),
  metadata: z.record(z.string(), z.string()).nullable().optional(),
});

export type ResponsesRequest = z.infer<typeof responsesRequestSchema>;

export type Translated =
  | { readonly ok: true; readonly chat: Record<string, unknown>; readonly request: ResponsesRequest }
  | { readonly ok: false; readonly param: string; readonly message: string; readonly unsupported: boolean };

function located(path: readonly PropertyKey[]): string {
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
    .join('')
    .replace(/^\./, '');
}

export function responsesToChat(body: unknown): Translated {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return { ok: false, param: '', message: 'The request body must be a JSON object.', unsupported: false };
  const parsed = responsesRequestSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const param = located(issue.path);
    return {
      ok: false,
      param,
      message: `Invalid value for '${param || 'body'}': ${issue.message}.`,
      unsupported: false,
    };
  }
  const r = parsed.data;
  if (r.previous_response_id)
    return {
      ok: false,
      param: 'previous_response_id',
      message: 'Entente does not store responses; send the whole conversation in input instead.',
      unsupported: true,
    };
  if (r.store === true)
    return {
      ok: false,
      param: 'store',
      message: 'Entente does not store responses; send store: false or omit it.',
      unsupported: true,
    };
  const chat: Record<string, unknown> = { model: r.model, messages: toMessages(r) };
  const tools = toTools(r);
  if (!Array.isArray(tools)) return tools;
  if (tools.length > 0) chat.tools = tools;
  copyOptions(r, chat);
  return { ok: true, chat, request: r };
}

/** Instructions and input items → chat messages; consecutive function calls are one assistant turn. */
function toMessages(r: ResponsesRequest): Record<string, unknown>[] {
  const messages: Record<string, unknown>[] = [];
  if (r.instructions) messages.push({ role: 'system', content: r.instructions });
  if (typeof r.input === 'string') {
    messages.push({ role: 'user', content: r.input });
    return messages;
  }
  for (const item of r.input) {
    if (item.type === 'function_call') {
      const last = messages[messages.length - 1];
      const call = {
        id: item.call_id,
        type: 'function',
        function: { name: item.name, arguments: item.arguments },
      };
      if (last?.role === 'assistant' && Array.isArray(last.tool_calls))
        (last.tool_calls as unknown[]).push(call);
      else messages.push({ role: 'assistant', content: null, tool_calls: [call] });
    } else if (item.type === 'function_call_output') {
      const output =
        typeof item.output === 'string'
          ? item.output
          : item.output.map((p) => (typeof p.text === 'string' ? p.text : '')).join('');
      messages.push({ role: 'tool', tool_call_id: item.call_id, content: output });
    } else {
      const content =
        typeof item.content === 'string'
          ? item.content
          : item.content.map((p) =>
              p.type === 'input_image'
                ? {
                    type: 'image_url',
                    image_url: { url: p.image_url, ...(p.detail ? { detail: p.detail } : {}) },
                  }
                : { type: 'text', text: p.type === 'refusal' ? p.refusal : p.text },
            );
      messages.push({ role: item.role, content });
    }
  }
  return messages;
}

/** Function tools → chat tools; any other tool type is refused by name. */
function toTools(r: ResponsesRequest): Record<string, unknown>[] | Translated {
  const tools: Record<string, unknown>[] = [];
  for (let i = 0; i < (r.tools?.length ?? 0); i++) {
    const t = functionTool.safeParse(r.tools![i]);
    if (!t.success)
      return {
        ok: false,
        param: `tools[${i}]`,
        message: `Only function tools can be served through Entente, not '${r.tools![i]!.type}'.`,
        unsupported: r.tools![i]!.type !== 'function',
      };
    tools.push({
      type: 'function',
      function: {
        name: t.data.name,
        ...(t.data.description ? { description: t.data.description } : {}),
        ...(t.data.parameters ? { parameters: t.data.parameters } : {}),
        ...(t.data.strict != null ? { strict: t.data.strict } : {}),
      },
    });
  }
  return tools;
}

/** Sampling, output format, reasoning and the rest, under their chat names. */
function copyOptions(r: ResponsesRequest, chat: Record<string, unknown>): void {
  const tc = r.tool_choice;
  if (tc) chat.tool_choice = typeof tc === 'string' ? tc : { type: 'function', function: { name: tc.name } };
  if (r.parallel_tool_calls != null) chat.parallel_tool_calls = r.parallel_tool_calls;
  if (r.max_output_tokens != null) chat.max_completion_tokens = r.max_output_tokens;
  if (r.temperature != null) chat.temperature = r.temperature;
  if (r.top_p != null) chat.top_p = r.top_p;
  const f = r.text?.format;
  if (f?.type === 'json_object') chat.response_format = { type: 'json_object' };
  if (f?.type === 'json_schema')
    chat.response_format = {
      type: 'json_schema',
      json_schema: {
        name: f.name,
        schema: f.schema,
        ...(f.description ? { description: f.description } : {}),
        ...(f.strict != null ? { strict: f.strict } : {}),
      },
    };
  if (r.reasoning?.effort) chat.reasoning_effort = r.reasoning.effort;
  if (r.user) chat.user = r.user;
  if (r.stream === true) chat.stream = true;
}
