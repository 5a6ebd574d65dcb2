// One `data:` chunk of :streamGenerateContent?alt=sse → OpenAI chunks (providers.md 5.5). Chunks
// carry text deltas and a running-total usage; the last one has finishReason. No terminator.
import type { SseEvent } from '../../sse/index.js';
import {
  badResponse,
  ChunkWriter,
  type StreamMapper,
  type StreamOptions,
  type StreamStep,
  streamFailure,
  tierOf,
} from '../spec/index.js';
import { kindForGoogleStatus } from './errors.js';
import { finishFromGemini, type GenerateContentResponse, toolCallOf, usageFromGemini } from './response.js';

export function createGeminiStreamMapper(opts: StreamOptions): StreamMapper {
  const w = new ChunkWriter(opts, opts.clientWantsUsage);
  let opened = false;
  let tools = 0;
  return {
    map(ev: SseEvent): StreamStep {
      let chunk: GenerateContentResponse;
      try {
        chunk = JSON.parse(ev.data) as GenerateContentResponse;
      } catch {
        return { frames: [], error: badResponse('Google sent a stream chunk that is not valid JSON') };
      }
      if (chunk.error) {
        const status = chunk.error.code ?? 500;
        return {
          frames: [],
          error: streamFailure(
            kindForGoogleStatus(status),
            chunk.error.message ?? 'Google reported an error inside the stream',
            chunk.error.status ?? null,
          ),
        };
      }
      const frames: string[] = [];
      let preamble = false;
      if (!opened) {
        opened = true;
        frames.push(w.role());
        preamble = true;
      }
      const cand = chunk.candidates?.[0];
      for (const p of cand?.content?.parts ?? []) {
        if (typeof p.text === 'string' && p.text && !p.thought) {
          frames.push(w.text(p.text));
          preamble = false;
        }
        const call = toolCallOf(p, tools);
        if (call) {
          frames.push(w.toolStart(tools++, call.id, call.name, call.arguments));
          preamble = false;
        }
      }
      const usage = usageFromGemini(chunk.usageMetadata) ?? undefined;
      const blocked = !cand && chunk.promptFeedback?.blockReason;
      if (cand?.finishReason || blocked) {
        const finishReason = blocked ? 'content_filter' : finishFromGemini(cand?.finishReason, tools > 0);
        frames.push(w.finish(finishReason));
        if (usage) frames.push(...w.usage(usage));
        return {
          frames,
          finishReason,
          done: true,
          ...(usage ? { usage } : {}),
          ...tierOf(chunk.usageMetadata?.trafficType),
        };
      }
      return { frames, ...(preamble ? { preamble } : {}), ...(usage ? { usage } : {}) };
    },
  };
}
