// Deterministic replies and token counts for the simulated clouds, so that tests can predict
// usage exactly. The rules (documented in docs/simulators.md):
//   tokens(text)     = number of whitespace-separated words
//   prompt_tokens    = 3 + Σ over messages (3 + tokens(text parts) + 85 per image part)
//   reply            = "Simulated reply from <cloud>/<deployment>: <echo of the last user text>"
//   completion       = one token per reply word (+ reasoning tokens: low 8, medium 16, high 32)
//   cached_tokens    = floor(prompt_tokens / 2) when the request carries `prompt_cache_key`
//   tool call        = when tools are given, tool_choice is not "none" and the last message is
//                      from the user: one call to the named (or first) tool; arguments fill each
//                      declared property (string → first user word, number → 42, boolean → true).

export function countWords(text: string): number {
  let n = 0;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const space = c === 32 || c === 9 || c === 10 || c === 13;
    if (!space && !inWord) n++;
    inWord = !space;
  }
  return n;
}

type Part = { type?: string; text?: string };
type Message = { role?: string; content?: unknown; tool_calls?: unknown[] };

function textOf(content: unknown): { text: string; images: number } {
  if (typeof content === 'string') return { text: content, images: 0 };
  if (!Array.isArray(content)) return { text: '', images: 0 };
  let text = '';
  let images = 0;
  for (const p of content as Part[]) {
    if (p?.type === 'text' && typeof p.text === 'string') text += ` ${p.text}`;
    if (p?.type === 'image_url') images++;
  }
  return { text, images };
}

export function promptTokens(messages: readonly Message[]): number {
  let n = 3;
  for (const m of messages) {
    const { text, images } = textOf(m.content);
    n += 3 + countWords(text) + 85 * images;
    if (Array.isArray(m.tool_calls)) n += 10 * m.tool_calls.length;
  }
  return n;
}

export interface ScriptedChoice {
  readonly words: string[];
  readonly finishReason: 'stop' | 'length' | 'tool_calls';
  readonly toolCall?: { readonly id: string; readonly name: string; readonly arguments: string };
}

export interface ScriptedReply {
  readonly choices: ScriptedChoice[];
  readonly promptTokens: number;
  readonly cachedTokens: number;
  readonly completionTokens: number;
  readonly reasoningTokens: number;
}

type Tool = {
  type?: string;
  function?: { name?: string; parameters?: { properties?: Record<string, { type?: string }> } };
};

const reasoningBudget: Record<string, number> = { minimal: 4, low: 8, medium: 16, high: 32, xhigh: 64 };

/** The reasoning a reply's reasoning tokens stand for, one word a token: thought0 thought1 …. */
export function reasoningWords(r: ScriptedReply): string[] {
  return Array.from({ length: r.reasoningTokens }, (_, i) => `thought${i}`);
}

export function scriptReply(
  body: Record<string, unknown>,
  origin: string,
  replyOverride?: string,
): ScriptedReply {
  const messages = (Array.isArray(body.messages) ? body.messages : []) as Message[];
  const last = messages[messages.length - 1];
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  const userText = lastUser ? textOf(lastUser.content).text.trim() : '';
  const n = typeof body.n === 'number' ? body.n : 1;
  const maxTokens = (body.max_completion_tokens ?? body.max_tokens) as number | undefined;
  const tools = (Array.isArray(body.tools) ? body.tools : []) as Tool[];
  const toolChoice = body.tool_choice as string | { function?: { name?: string } } | undefined;
  const reasoning =
    typeof body.reasoning_effort === 'string' ? (reasoningBudget[body.reasoning_effort] ?? 0) : 0;

  const wantsTool = tools.length > 0 && toolChoice !== 'none' && last?.role === 'user';
  const choices: ScriptedChoice[] = [];
  let completion = 0;
  for (let i = 0; i < n; i++) {
    if (wantsTool) {
      const named = typeof toolChoice === 'object' ? toolChoice.function?.name : undefined;
      const tool = tools.find((t) => t.function?.name === named) ?? tools[0]!;
      const args: Record<string, unknown> = {};
      const firstWord = userText.split(/\s+/)[0] ?? '';
      for (const [k, v] of Object.entries(tool.function?.parameters?.properties ?? {})) {
        args[k] = v.type === 'number' || v.type === 'integer' ? 42 : v.type === 'boolean' ? true : firstWord;
      }
      const argText = JSON.stringify(args);
      choices.push({
        words: [],
        finishReason: 'tool_calls',
        toolCall: {
          id: `call_sim${i}_${tool.function?.name}`,
          name: tool.function?.name ?? 'tool',
          arguments: argText,
        },
      });
      completion += 8 + countWords(argText.replace(/[{}":,]/g, ' '));
      continue;
    }
    const text = replyOverride ?? `Simulated reply from ${origin}: ${userText}`;
    let words = text.split(/\s+/).filter(Boolean);
    let finishReason: ScriptedChoice['finishReason'] = 'stop';
    const stops =
      typeof body.stop === 'string' ? [body.stop] : Array.isArray(body.stop) ? (body.stop as string[]) : [];
    const cut = stops.map((s) => words.indexOf(s)).filter((i) => i >= 0);
    if (cut.length > 0) words = words.slice(0, Math.min(...cut));
    if (maxTokens !== undefined && words.length > maxTokens) {
      words = words.slice(0, maxTokens);
      finishReason = 'length';
    }
    choices.push({ words, finishReason });
    completion += words.length;
  }
  const prompt = promptTokens(messages);
  return {
    choices,
    promptTokens: prompt,
    cachedTokens: typeof body.prompt_cache_key === 'string' ? Math.floor(prompt / 2) : 0,
    completionTokens: completion + reasoning * n,
    reasoningTokens: reasoning * n,
  };
}

/**
 * A deterministic embedding for the simulators: `dims` values in [-1000/1024, 1000/1024], each an
 * exact float32 (k/1024), derived from an FNV-1a hash of the text and the position.
 */
export function simEmbedding(text: string, dims: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < dims; i++) {
    let h = 0x811c9dc5 ^ i;
    for (let j = 0; j < text.length; j++) {
      h ^= text.charCodeAt(j);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    out.push(((h % 2001) - 1000) / 1024);
  }
  return out;
}

export const SIM_EMBEDDING_DIMS = 16;
