// One OpenAI chat.completion.chunk SSE event → what the client receives.
// Wire format: https://platform.openai.com/docs/api-reference/chat-streaming. The upstream is always asked for usage; a
// client that did not ask for it gets neither the `usage: null` fields nor the final usage chunk,
// exactly as OpenAI would have sent it. Azure's leading prompt-filter chunk (choices: [], no id)
// is not part of the OpenAI API and is dropped. A chunk of a shape learnt earlier in the stream
// (spec/chunk-shape.ts: the same text but for its content or tool-call arguments and its padding) is
// read without parsing it; its step is exactly the one parsing would give.
import { usageFromOpenAI } from '../../canonical/index.js';
import type { SseEvent } from '../../sse/index.js';
import {
  badResponse,
  type ChunkShape,
  cutUsageNullTail,
  type Hole,
  learnShape,
  probeValue,
  ShapeReader,
  type StreamMapper,
  type StreamOptions,
  type StreamStep,
  tierOf,
  type UpstreamFailure,
} from '../spec/index.js';

const EMPTY: StreamStep = { frames: [] };
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
  obfuscation?: unknown;
  error?: { message?: string; code?: string | null; type?: string; param?: string | null };
}

/** The string a parsed chunk's shape may be learnt around: its content, or its tool call's arguments. */
interface Varying {
  readonly field: 'content' | 'arguments';
  readonly text: string;
}

export function createOpenAIStreamMapper(opts: StreamOptions): StreamMapper {
  /** Tagged with whether the delta is a tool call: substance whatever its string. */
  const shapes = new ShapeReader<boolean>();
  return {
    map(event: SseEvent): StreamStep {
      const data = event.data;
      if (data === '[DONE]') return DONE;
      if (event.event !== 'error' && shapes.match(data)) {
        const frame = shapes.frame(data);
        // Hole 0 is the varying string; content alone is substance when it is not empty.
        return shapes.tag || shapes.literalLength(0) > 2
          ? { frames: [frame] }
          : { frames: [frame], preamble: true };
      }
      const step = mapParsed(event, data, opts);
      const learn = step.learn;
      if (learn !== undefined)
        shapes.learn(learn.varying.field === 'arguments', () => shapeOf(data, learn, opts));
      return step.step;
    },
  };
}

/**
 * The shape of a parsed chunk with one choice (no finish, refusal or usage) around its varying
 * string, and its padding when it has one (`obfuscation`, a string whose length varies).
 */
function shapeOf(data: string, learn: Learn, opts: StreamOptions): ChunkShape | null {
  const toolCall = learn.varying.field === 'arguments';
  const holes: Hole[] = [{ key: learn.varying.field, value: learn.varying.text }];
  if (learn.padding !== null) holes.push({ key: 'obfuscation', value: learn.padding });
  const holds = (probed: unknown) => {
    const c = probed as Chunk & { obfuscation?: unknown };
    const delta = c.choices?.[0]?.delta;
    const found = toolCall ? oneToolCall(delta)?.function?.arguments : delta?.content;
    return found === probeValue(0) && (learn.padding === null || c.obfuscation === probeValue(1));
  };
  return learnShape(data, holes, holds, !opts.clientWantsUsage && learn.hasUsage);
}

/** The delta's tool call when it has exactly one. */
function oneToolCall(delta: Delta | undefined) {
  const calls = delta?.tool_calls;
  return Array.isArray(calls) && calls.length === 1 ? (calls[0] as ToolCallDelta | null) : undefined;
}

/** What a parsed chunk offers to learn a shape from. */
interface Learn {
  readonly varying: Varying;
  readonly padding: string | null;
  /** The chunk has a usage field (null): a client that did not ask for usage must not see it. */
  readonly hasUsage: boolean;
}

/** One chunk's step, parsed whole, with nothing learnt: what the mapper's shortcut must equal. */
export function mapOpenAIChunk(event: SseEvent, opts: StreamOptions): StreamStep {
  return event.data === '[DONE]' ? DONE : mapParsed(event, event.data, opts).step;
}

/** A chunk's step, from its parsed JSON; `learn` is the content when its shape may be learnt. */
function mapParsed(event: SseEvent, data: string, opts: StreamOptions): { step: StreamStep; learn?: Learn } {
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
  const hasUsage = 'usage' in chunk;
  if (!opts.clientWantsUsage && hasUsage) {
    // OpenAI puts `"usage":null` last; cutting it off is exact and cheaper than re-serialising.
    const cut = cutUsageNullTail(data);
    if (cut !== null) frame = cut;
    else {
      delete chunk.usage;
      frame = JSON.stringify(chunk);
    }
  }
  if (finishReason) return { step: { frames: [frame], finishReason } };
  const step: StreamStep = substance ? { frames: [frame] } : { frames: [frame], preamble: true };
  const only = choices.length === 1 ? choices[0]!.delta : undefined;
  // Not from a role's opening delta (no content yet): the chunks after it have no role, so its shape
  // would not fit them. Servers that name the role in every delta with content are learnt from.
  if (!only || (only.role && !only.content) || only.refusal || chunk.usage) return { step };
  const padding = typeof chunk.obfuscation === 'string' ? chunk.obfuscation : null;
  if (typeof only.content === 'string' && !only.tool_calls)
    return { step, learn: { varying: { field: 'content', text: only.content }, padding, hasUsage } };
  const args = oneToolCall(only)?.function?.arguments;
  if (typeof args !== 'string') return { step };
  return { step, learn: { varying: { field: 'arguments', text: args }, padding, hasUsage } };
}
