// The simulators' reading of each cloud's native request, into the OpenAI-shaped request that
// script-reply.ts scripts answers for. This is the simulator's own reading, written from the
// providers' documentation (linked from each provider's request.ts), independently of the gateway's
// adapters, so that an adapter bug shows up as a wrong answer or wrong token count.

type Obj = Record<string, unknown>;
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);

export interface OpenAIish extends Obj {
  messages: Obj[];
}

function tool(name: unknown, schema: unknown): Obj {
  return { type: 'function', function: { name, parameters: schema ?? {} } };
}

/** Bedrock Converse (providers.md 4.2). */
export function fromConverse(body: Obj): OpenAIish {
  const messages: Obj[] = [];
  for (const s of arr(body.system))
    if (typeof s.text === 'string') messages.push({ role: 'system', content: s.text });
  for (const m of arr(body.messages)) {
    const content: Obj[] = [];
    const calls: Obj[] = [];
    for (const b of arr(m.content)) {
      if (typeof b.text === 'string') content.push({ type: 'text', text: b.text });
      if (b.image) content.push({ type: 'image_url' });
      if (b.toolUse) calls.push(b.toolUse as Obj);
      if (b.toolResult) {
        const parts = arr((b.toolResult as Obj).content);
        const text = parts
          .map((p) => (typeof p.text === 'string' ? p.text : JSON.stringify(p.json)))
          .join(' ');
        messages.push({ role: 'tool', content: text });
      }
    }
    if (content.length > 0 || calls.length > 0)
      messages.push({ role: m.role, content, ...(calls.length ? { tool_calls: calls } : {}) });
  }
  const inf = (body.inferenceConfig ?? {}) as Obj;
  const tc = (body.toolConfig ?? {}) as Obj;
  const choice = tc.toolChoice as Obj | undefined;
  return {
    messages,
    tools: arr(tc.tools).map((t) => {
      const s = t.toolSpec as Obj;
      return tool(s.name, (s.inputSchema as Obj | undefined)?.json);
    }),
    ...(choice?.any ? { tool_choice: 'required' } : {}),
    ...(choice?.tool ? { tool_choice: { function: { name: (choice.tool as Obj).name } } } : {}),
    ...(typeof inf.maxTokens === 'number' ? { max_tokens: inf.maxTokens } : {}),
    ...(Array.isArray(inf.stopSequences) ? { stop: inf.stopSequences as string[] } : {}),
  };
}

/** Anthropic Messages (providers.md 6.2), first-party or hosted. */
export function fromAnthropic(body: Obj): OpenAIish {
  const messages: Obj[] = [];
  if (typeof body.system === 'string') messages.push({ role: 'system', content: body.system });
  for (const s of arr(body.system)) messages.push({ role: 'system', content: s.text });
  for (const m of arr(body.messages)) {
    if (typeof m.content === 'string') {
      messages.push({ role: m.role, content: m.content });
      continue;
    }
    const content: Obj[] = [];
    const calls: Obj[] = [];
    for (const b of arr(m.content)) {
      if (b.type === 'text') content.push({ type: 'text', text: b.text });
      if (b.type === 'image') content.push({ type: 'image_url' });
      if (b.type === 'tool_use') calls.push(b);
      if (b.type === 'tool_result')
        messages.push({
          role: 'tool',
          content: typeof b.content === 'string' ? b.content : JSON.stringify(b.content),
        });
    }
    if (content.length > 0 || calls.length > 0)
      messages.push({ role: m.role, content, ...(calls.length ? { tool_calls: calls } : {}) });
  }
  const choice = body.tool_choice as Obj | undefined;
  const effort = (body.output_config as Obj | undefined)?.effort;
  return {
    messages,
    tools: arr(body.tools).map((t) => tool(t.name, t.input_schema)),
    ...(choice?.type === 'none' ? { tool_choice: 'none' } : {}),
    ...(choice?.type === 'tool' ? { tool_choice: { function: { name: choice.name } } } : {}),
    ...(typeof body.max_tokens === 'number' ? { max_tokens: body.max_tokens } : {}),
    ...(Array.isArray(body.stop_sequences) ? { stop: body.stop_sequences as string[] } : {}),
    ...(typeof effort === 'string' ? { reasoning_effort: effort } : {}),
  };
}

const pick = (o: Obj, camel: string, snake: string) => o[camel] ?? o[snake];

/** Gemini generateContent (providers.md 5.3); proto3 JSON, so snake_case names are accepted too. */
export function fromGemini(body: Obj): OpenAIish {
  const messages: Obj[] = [];
  const sys = pick(body, 'systemInstruction', 'system_instruction') as Obj | undefined;
  for (const p of arr(sys?.parts)) messages.push({ role: 'system', content: p.text });
  for (const c of arr(body.contents)) {
    const content: Obj[] = [];
    const calls: Obj[] = [];
    for (const p of arr(c.parts)) {
      if (typeof p.text === 'string') content.push({ type: 'text', text: p.text });
      if (pick(p, 'inlineData', 'inline_data') || pick(p, 'fileData', 'file_data'))
        content.push({ type: 'image_url' });
      const call = pick(p, 'functionCall', 'function_call');
      if (call) calls.push(call as Obj);
      const resp = pick(p, 'functionResponse', 'function_response') as Obj | undefined;
      if (resp) messages.push({ role: 'tool', content: JSON.stringify(resp.response) });
    }
    if (content.length > 0 || calls.length > 0)
      messages.push({
        role: c.role === 'model' ? 'assistant' : 'user',
        content,
        ...(calls.length ? { tool_calls: calls } : {}),
      });
  }
  const tools: Obj[] = [];
  for (const t of arr(body.tools)) {
    for (const f of arr(pick(t, 'functionDeclarations', 'function_declarations'))) {
      tools.push(
        tool(f.name, pick(f, 'parametersJsonSchema', 'parameters_json_schema') ?? lowerTypes(f.parameters)),
      );
    }
  }
  const toolConfig = (pick(body, 'toolConfig', 'tool_config') ?? {}) as Obj;
  const fcc = pick(toolConfig, 'functionCallingConfig', 'function_calling_config') as Obj | undefined;
  const allowed = pick(fcc ?? {}, 'allowedFunctionNames', 'allowed_function_names') as string[] | undefined;
  const g = (pick(body, 'generationConfig', 'generation_config') ?? {}) as Obj;
  const max = pick(g, 'maxOutputTokens', 'max_output_tokens');
  const stop = pick(g, 'stopSequences', 'stop_sequences');
  const thinking = pick(g, 'thinkingConfig', 'thinking_config') as Obj | undefined;
  const budget = thinking ? Number(pick(thinking, 'thinkingBudget', 'thinking_budget') ?? 0) : 0;
  return {
    messages,
    tools,
    ...(fcc?.mode === 'NONE' ? { tool_choice: 'none' } : {}),
    ...(fcc?.mode === 'ANY' && allowed?.length ? { tool_choice: { function: { name: allowed[0] } } } : {}),
    ...(typeof max === 'number' ? { max_tokens: max } : {}),
    ...(Array.isArray(stop) ? { stop: stop as string[] } : {}),
    ...(budget > 0
      ? { reasoning_effort: budget >= 24_576 ? 'high' : budget >= 8192 ? 'medium' : 'low' }
      : {}),
  };
}

/** Gemini's OpenAPI-subset schemas use upper-case type names; script-reply reads JSON Schema. */
function lowerTypes(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(lowerTypes);
  if (typeof schema !== 'object' || schema === null) return schema;
  const out: Obj = {};
  for (const [k, v] of Object.entries(schema))
    out[k] = k === 'type' && typeof v === 'string' ? v.toLowerCase() : lowerTypes(v);
  return out;
}
