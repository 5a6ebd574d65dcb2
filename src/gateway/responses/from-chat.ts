// The canonical answer (OpenAI chat.completion bodies and chat.completion.chunk payloads, as every
// adapter produces them) → the Responses API: a `response` object, or its typed stream events
// (https://platform.openai.com/docs/api-reference/responses-streaming): response.created → response.in_progress → per output item
// output_item.added → [content_part.added → output_text.delta* → output_text.done →
// content_part.done | function_call_arguments.delta* → .done] → output_item.done → response.completed
// (or response.incomplete when the token limit cut the answer). Same response id throughout.
import { frameData } from '../../sse/index.js';
import type { ResponsesRequest } from './to-chat.js';

type Obj = Record<string, unknown>;

interface ChatUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
  completion_tokens_details?: { reasoning_tokens?: number } | null;
}

export function responsesUsage(u: ChatUsage | null | undefined): Obj | null {
  if (!u) return null;
  const input = u.prompt_tokens ?? 0;
  const output = u.completion_tokens ?? 0;
  return {
    input_tokens: input,
    input_tokens_details: { cached_tokens: u.prompt_tokens_details?.cached_tokens ?? 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: u.completion_tokens_details?.reasoning_tokens ?? 0 },
    total_tokens: input + output,
  };
}

export interface ResponseShell {
  readonly id: string;
  readonly createdAt: number;
  readonly model: string;
  readonly request: ResponsesRequest;
}

function responseObject(
  shell: ResponseShell,
  status: string,
  output: Obj[],
  usage: Obj | null,
  finish: string | null,
): Obj {
  const r = shell.request;
  return {
    id: shell.id,
    object: 'response',
    created_at: shell.createdAt,
    status,
    error: null,
    incomplete_details:
      status === 'incomplete'
        ? { reason: finish === 'content_filter' ? 'content_filter' : 'max_output_tokens' }
        : null,
    instructions: r.instructions ?? null,
    max_output_tokens: r.max_output_tokens ?? null,
    model: shell.model,
    output,
    parallel_tool_calls: r.parallel_tool_calls ?? true,
    previous_response_id: null,
    reasoning: { effort: r.reasoning?.effort ?? null, summary: null },
    store: false,
    temperature: r.temperature ?? null,
    text: { format: r.text?.format ?? { type: 'text' } },
    tool_choice: r.tool_choice ?? 'auto',
    tools: r.tools ?? [],
    top_p: r.top_p ?? null,
    truncation: 'disabled',
    usage,
    user: r.user ?? null,
    metadata: r.metadata ?? {},
  };
}

const statusOf = (finish: string | null) =>
  finish === 'length' || finish === 'content_filter' ? 'incomplete' : 'completed';

interface ChatCompletion {
  choices?: {
    message?: {
      content?: string | null;
      tool_calls?: { id: string; function: { name: string; arguments: string } }[];
    };
    finish_reason?: string | null;
  }[];
  usage?: ChatUsage;
}

/** A chat.completion body → the Responses API's response object (JSON text). */
export function responseFromCompletion(shell: ResponseShell, body: string | Uint8Array): string {
  const c = JSON.parse(
    typeof body === 'string' ? body : Buffer.from(body).toString('utf8'),
  ) as ChatCompletion;
  const choice = c.choices?.[0];
  const output: Obj[] = [];
  const text = choice?.message?.content;
  if (text) output.push(messageItem(`msg_${shell.id.slice(5)}`, text, 'completed'));
  (choice?.message?.tool_calls ?? []).forEach((t, i) => {
    output.push(
      callItem(`fc_${shell.id.slice(5)}_${i}`, t.id, t.function.name, t.function.arguments, 'completed'),
    );
  });
  const finish = choice?.finish_reason ?? null;
  return JSON.stringify(responseObject(shell, statusOf(finish), output, responsesUsage(c.usage), finish));
}

function messageItem(id: string, text: string, status: string): Obj {
  return {
    type: 'message',
    id,
    status,
    role: 'assistant',
    content: status === 'in_progress' ? [] : [{ type: 'output_text', text, annotations: [], logprobs: [] }],
  };
}

function callItem(id: string, callId: string, name: string, args: string, status: string): Obj {
  return { type: 'function_call', id, call_id: callId, name, arguments: args, status };
}

interface Chunk {
  choices?: {
    delta?: {
      content?: string | null;
      tool_calls?: { index: number; id?: string; function?: { name?: string; arguments?: string } }[];
    };
    finish_reason?: string | null;
  }[];
  usage?: ChatUsage | null;
}

type Open =
  | { kind: 'message'; index: number; id: string; text: string }
  | { kind: 'call'; index: number; id: string; callId: string; name: string; args: string };

/** Chat chunk payloads in, Responses SSE text out; one instance per attempt. */
export class ResponsesStreamEncoder {
  readonly #shell: ResponseShell;
  #seq = 0;
  #started = false;
  readonly #output: Obj[] = [];
  #open: Open | null = null;
  readonly #calls = new Map<number, Open & { kind: 'call' }>();
  #finish: string | null = null;
  #usage: Obj | null = null;

  constructor(shell: ResponseShell) {
    this.#shell = shell;
  }

  #event(type: string, fields: Obj): string {
    return frameData(JSON.stringify({ type, sequence_number: this.#seq++, ...fields }), type);
  }

  #start(): string {
    if (this.#started) return '';
    this.#started = true;
    const r = responseObject(this.#shell, 'in_progress', [], null, null);
    return (
      this.#event('response.created', { response: r }) + this.#event('response.in_progress', { response: r })
    );
  }

  #close(): string {
    const o = this.#open;
    if (!o) return '';
    this.#open = null;
    let out = '';
    let item: Obj;
    if (o.kind === 'message') {
      const part = { type: 'output_text', text: o.text, annotations: [], logprobs: [] };
      out += this.#event('response.output_text.done', {
        item_id: o.id,
        output_index: o.index,
        content_index: 0,
        text: o.text,
        logprobs: [],
      });
      out += this.#event('response.content_part.done', {
        item_id: o.id,
        output_index: o.index,
        content_index: 0,
        part,
      });
      item = messageItem(o.id, o.text, 'completed');
    } else {
      out += this.#event('response.function_call_arguments.done', {
        item_id: o.id,
        output_index: o.index,
        name: o.name,
        arguments: o.args,
      });
      item = callItem(o.id, o.callId, o.name, o.args, 'completed');
    }
    this.#output[o.index] = item;
    return out + this.#event('response.output_item.done', { output_index: o.index, item });
  }

  frames(frames: readonly string[]): string {
    let out = this.#start();
    for (const f of frames) {
      const chunk = JSON.parse(f) as Chunk;
      if (chunk.usage) this.#usage = responsesUsage(chunk.usage);
      const c = chunk.choices?.[0];
      if (!c) continue;
      const d = c.delta ?? {};
      if (d.content) {
        if (this.#open?.kind !== 'message') {
          out += this.#close();
          const index = this.#output.length;
          const id = `msg_${this.#shell.id.slice(5)}_${index}`;
          this.#output.push({});
          this.#open = { kind: 'message', index, id, text: '' };
          out += this.#event('response.output_item.added', {
            output_index: index,
            item: messageItem(id, '', 'in_progress'),
          });
          out += this.#event('response.content_part.added', {
            item_id: id,
            output_index: index,
            content_index: 0,
            part: { type: 'output_text', text: '', annotations: [], logprobs: [] },
          });
        }
        const o = this.#open as Open & { kind: 'message' };
        o.text += d.content;
        out += this.#event('response.output_text.delta', {
          item_id: o.id,
          output_index: o.index,
          content_index: 0,
          delta: d.content,
          logprobs: [],
        });
      }
      for (const t of d.tool_calls ?? []) {
        let call = this.#calls.get(t.index);
        if (!call) {
          out += this.#close();
          const index = this.#output.length;
          this.#output.push({});
          call = {
            kind: 'call',
            index,
            id: `fc_${this.#shell.id.slice(5)}_${index}`,
            callId: t.id ?? `call_${index}`,
            name: t.function?.name ?? '',
            args: '',
          };
          this.#calls.set(t.index, call);
          this.#open = call;
          out += this.#event('response.output_item.added', {
            output_index: index,
            item: callItem(call.id, call.callId, call.name, '', 'in_progress'),
          });
        }
        const frag = t.function?.arguments ?? '';
        if (frag) {
          call.args += frag;
          out += this.#event('response.function_call_arguments.delta', {
            item_id: call.id,
            output_index: call.index,
            delta: frag,
          });
        }
      }
      if (c.finish_reason) this.#finish = c.finish_reason;
    }
    return out;
  }

  end(): string {
    const out = this.#start() + this.#close();
    const status = statusOf(this.#finish);
    const r = responseObject(this.#shell, status, this.#output, this.#usage, this.#finish);
    return (
      out +
      this.#event(status === 'completed' ? 'response.completed' : 'response.incomplete', { response: r })
    );
  }

  error(code: string, message: string): string {
    return this.#start() + this.#event('error', { code, message, param: null });
  }
}
