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

interface Chunk {
  choices?: {
    finish_reason?: string | null;
    delta?: { content?: string | null; tool_calls?: unknown; refusal?: string | null };
  }[];
  usage?: unknown;
  service_tier?: unknown;
  error?: { message?: string; code?: string | null; type?: string; param?: string | null };
}

export function createOpenAIStreamMapper(opts: StreamOptions): StreamMapper {
  return {
    map(event: SseEvent): StreamStep {
      const data = event.data;
      if (data === '[DONE]') return DONE;
      let chunk: Chunk;
      try {
        chunk = JSON.parse(data) as Chunk;
      } catch {
        return { frames: [], error: badResponse('the upstream sent a stream event that is not valid JSON') };
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
        return { frames: [], error: failure };
      }
      const choices = chunk.choices;
      if (!Array.isArray(choices))
        return { frames: [], error: badResponse('the upstream sent a chunk without choices') };
      if (choices.length === 0) {
        const usage = chunk.usage ? usageFromOpenAI(chunk.usage) : null;
        if (!usage) return EMPTY; // Azure's prompt_filter_results chunk
        return { frames: opts.clientWantsUsage ? [data] : [], usage, ...tierOf(chunk.service_tier) };
      }
      let finishReason: string | undefined;
      let substance = false;
      for (const c of choices) {
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
      if (finishReason) return { frames: [frame], finishReason };
      return substance ? { frames: [frame] } : { frames: [frame], preamble: true };
    },
  };
}
