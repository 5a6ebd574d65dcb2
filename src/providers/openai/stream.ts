// One OpenAI chat.completion.chunk SSE event → what the client receives.
// Wire format: https://platform.openai.com/docs/api-reference/chat-streaming. The upstream is always asked for usage; a
// client that did not ask for it gets neither the `usage: null` fields nor the final usage chunk,
// exactly as OpenAI would have sent it. Azure's leading prompt-filter chunk (choices: [], no id)
// is not part of the OpenAI API and is dropped.
import { usageFromOpenAI } from '../../canonical/index.js';
import type { SseEvent } from '../../sse/index.js';
import {
  badResponse,
  type StreamMapper,
  type StreamOptions,
  type StreamStep,
  tierOf,
  type UpstreamFailure,
} from '../spec/index.js';

const EMPTY: StreamStep = { frames: [] };
const USAGE_NULL_TAIL = ',"usage":null}';
const DONE: StreamStep = { frames: [], done: true };

interface ToolCallDelta {
  function?: { arguments?: unknown };
}

interface Delta {
  role?: unknown;
  content?: string | null;
  tool_calls?: unknown;
  refusal?: string | null;
}

interface Chunk {
  choices?: {
    finish_reason?: string | null;
    delta?: Delta;
  }[];
  usage?: unknown;
  service_tier?: unknown;
  error?: { message?: string; code?: string | null; type?: string; param?: string | null };
}

/**
 * A chunk's text around the one string that varies from chunk to chunk: the delta's content, or
 * the arguments of its one tool call. Within one stream, chunks differ only in that string (same
 * id, created, model, fields in the same order), so a chunk that is exactly
 * `prefix + <a JSON string literal> + suffix` is the chunk this shape was learnt from with another
 * string: the same JSON, a different string. Its step follows without parsing it.
 */
interface ChunkShape {
  readonly prefix: string;
  readonly suffix: string;
  /** The frame drops the suffix's `,"usage":null` (the client did not ask for usage). */
  readonly cutUsage: boolean;
  /** The delta carries a tool call: substance whatever the string (content: when it is not empty). */
  readonly toolCall: boolean;
}

/** The string a parsed chunk's shape may be learnt around. */
interface Varying {
  readonly field: 'content' | 'arguments';
  readonly text: string;
}

/** Shapes learnt per stream at most: a stream whose chunks differ elsewhere (a field that varies) stops trying. */
const MAX_SHAPES = 3;
/** A literal put where the content was, to prove where that is (a chunk that carries it learns nothing). */
const PROBE = '"\\u0000entente-probe"';
const PROBE_CONTENT = '\u0000entente-probe';

export function createOpenAIStreamMapper(opts: StreamOptions): StreamMapper {
  let shape: ChunkShape | null = null;
  let learnt = 0;
  return {
    map(event: SseEvent): StreamStep {
      const data = event.data;
      if (data === '[DONE]') return DONE;
      if (shape !== null && event.event !== 'error') {
        const step = stepByShape(shape, data);
        if (step !== null) return step;
      }
      const step = mapParsed(event, data, opts);
      if (step.learn !== undefined && learnt < MAX_SHAPES) {
        learnt++;
        shape = learnShape(data, step.learn, opts) ?? shape;
      }
      return step.step;
    },
  };
}

/** The step of a chunk of `shape`'s form; null when `data` is not of it. */
function stepByShape(shape: ChunkShape, data: string): StreamStep | null {
  const end = data.length - shape.suffix.length;
  // Slices compared for equality, as memory: startsWith ran char by char, 4 to 8 times slower.
  if (
    end < shape.prefix.length + 2 ||
    data.slice(0, shape.prefix.length) !== shape.prefix ||
    data.slice(end) !== shape.suffix
  )
    return null;
  if (!isJsonString(data, shape.prefix.length, end)) return null;
  const frame = shape.cutUsage ? `${data.slice(0, -USAGE_NULL_TAIL.length)}}` : data;
  // A tool call is substance; content alone is when the string is not empty.
  return shape.toolCall || end - shape.prefix.length > 2
    ? { frames: [frame] }
    : { frames: [frame], preamble: true };
}

/**
 * The shape of a parsed chunk with one choice (no finish, refusal or usage) around its varying
 * string, when that string's literal can be found in the text: exactly once, as written by
 * JSON.stringify, and proven to be the delta's content (or its tool call's arguments) by parsing
 * the text with a probe there.
 */
function learnShape(data: string, varying: Varying, opts: StreamOptions): ChunkShape | null {
  if (varying.text === PROBE_CONTENT) return null;
  const key = `"${varying.field}":`;
  const needle = key + JSON.stringify(varying.text);
  const at = data.indexOf(needle);
  if (at === -1 || data.indexOf(needle, at + 1) !== -1) return null;
  const prefix = data.slice(0, at + key.length);
  const suffix = data.slice(at + needle.length);
  const cutUsage = !opts.clientWantsUsage && suffix.endsWith(USAGE_NULL_TAIL);
  const toolCall = varying.field === 'arguments';
  try {
    const probe = JSON.parse(prefix + PROBE + suffix) as Chunk;
    const delta = probe.choices?.[0]?.delta;
    const found = toolCall ? oneToolCall(delta)?.function?.arguments : delta?.content;
    if (found !== PROBE_CONTENT) return null;
    // A usage field the client must not see, not last: only a parse can drop it.
    if (!opts.clientWantsUsage && 'usage' in probe && !cutUsage) return null;
  } catch {
    return null;
  }
  return { prefix, suffix, cutUsage, toolCall };
}

/** The delta's tool call when it has exactly one. */
function oneToolCall(delta: Delta | undefined) {
  const calls = delta?.tool_calls;
  return Array.isArray(calls) && calls.length === 1 ? (calls[0] as ToolCallDelta | null) : undefined;
}

/** Whether s[from, to) is exactly one JSON string literal (RFC 8259, section 7). */
export function isJsonString(s: string, from: number, to: number): boolean {
  const end = to - 1;
  if (end <= from || s.charCodeAt(from) !== 34 || s.charCodeAt(end) !== 34) return false;
  let i = from + 1;
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c === 34 || c < 32) return false;
    if (c !== 92) {
      i++;
      continue;
    }
    if (i + 1 >= end) return false;
    const e = s.charCodeAt(i + 1);
    if (e === 117) {
      if (i + 6 > end) return false;
      for (let k = i + 2; k < i + 6; k++) if (!isHex(s.charCodeAt(k))) return false;
      i += 6;
    } else if (
      e === 34 ||
      e === 92 ||
      e === 47 ||
      e === 98 ||
      e === 102 ||
      e === 110 ||
      e === 114 ||
      e === 116
    ) {
      i += 2;
    } else return false;
  }
  return true;
}

const isHex = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);

/** One chunk's step, parsed whole, with nothing learnt: what the mapper's shortcut must equal. */
export function mapOpenAIChunk(event: SseEvent, opts: StreamOptions): StreamStep {
  return event.data === '[DONE]' ? DONE : mapParsed(event, event.data, opts).step;
}

/** A chunk's step, from its parsed JSON; `learn` is the content when its shape may be learnt. */
function mapParsed(
  event: SseEvent,
  data: string,
  opts: StreamOptions,
): { step: StreamStep; learn?: Varying } {
  let chunk: Chunk;
  try {
    chunk = JSON.parse(data) as Chunk;
  } catch {
    return {
      step: { frames: [], error: badResponse('the upstream sent a stream event that is not valid JSON') },
    };
  }
  if (chunk.error || event.event === 'error') {
    const e = chunk.error ?? {};
    const failure: UpstreamFailure = {
      kind: 'server',
      status: 502,
      message: e.message ?? 'the upstream reported an error inside the stream',
      upstreamCode: e.code ?? null,
      param: e.param ?? null,
      retryAfterMs: null,
    };
    return { step: { frames: [], error: failure } };
  }
  const choices = chunk.choices;
  if (!Array.isArray(choices))
    return { step: { frames: [], error: badResponse('the upstream sent a chunk without choices') } };
  if (choices.length === 0) {
    const usage = chunk.usage ? usageFromOpenAI(chunk.usage) : null;
    if (!usage) return { step: EMPTY }; // Azure's prompt_filter_results chunk
    return {
      step: { frames: opts.clientWantsUsage ? [data] : [], usage, ...tierOf(chunk.service_tier) },
    };
  }
  let finishReason: string | undefined;
  let substance = false;
  for (const c of choices) {
    if (typeof c !== 'object' || c === null)
      return { step: { frames: [], error: badResponse('the upstream sent a choice that is not an object') } };
    if (c.finish_reason) finishReason = c.finish_reason;
    const d = c.delta;
    if (!d || d.content || d.tool_calls || d.refusal || c.finish_reason) substance = true;
  }
  let frame = data;
  if (!opts.clientWantsUsage && 'usage' in chunk) {
    // OpenAI puts `"usage":null` last; cutting it off is exact and cheaper than re-serialising.
    if (data.endsWith(USAGE_NULL_TAIL)) frame = `${data.slice(0, -USAGE_NULL_TAIL.length)}}`;
    else {
      delete chunk.usage;
      frame = JSON.stringify(chunk);
    }
  }
  if (finishReason) return { step: { frames: [frame], finishReason } };
  const step: StreamStep = substance ? { frames: [frame] } : { frames: [frame], preamble: true };
  const only = choices.length === 1 ? choices[0]!.delta : undefined;
  // Not from a role's opening delta: the chunks after it have no role, so its shape would not fit them.
  if (!only || only.role || only.refusal || chunk.usage) return { step };
  if (typeof only.content === 'string' && !only.tool_calls)
    return { step, learn: { field: 'content', text: only.content } };
  const args = oneToolCall(only)?.function?.arguments;
  return typeof args === 'string' ? { step, learn: { field: 'arguments', text: args } } : { step };
}
