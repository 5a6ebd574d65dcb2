// One `data:` chunk of :streamGenerateContent?alt=sse → OpenAI chunks (providers.md 5.5). Chunks
// carry text deltas and a running-total usage; the last one has finishReason. No terminator.
// A text chunk whose only differences from one parsed before are its text and its running counts
// (candidatesTokenCount, totalTokenCount) is read by its shape, without parsing (spec/chunk-shape.ts).

import type { TokenUsage } from '../../canonical/index.js';
import type { SseEvent } from '../../sse/index.js';
import {
  badResponse,
  type ChunkShape,
  ChunkWriter,
  type Hole,
  learnShape,
  probeCount,
  probeValue,
  ShapeReader,
  type StreamMapper,
  type StreamOptions,
  type StreamStep,
  streamFailure,
  tierOf,
} from '../spec/index.js';
import { kindForGoogleStatus } from './errors.js';
import { finishFromGemini, type GenerateContentResponse, toolCallOf, usageFromGemini } from './response.js';

/** The running counts a text chunk's shape leaves open; the output count is the usage's. */
const COUNTS = ['candidatesTokenCount', 'totalTokenCount'] as const;

/** What a learnt text chunk gives every chunk of its shape: its usage, but for the output count. */
interface LearntUsage {
  readonly usage: TokenUsage | null;
  /** The hole of candidatesTokenCount (tokensOutput), or -1 when the chunk has none. */
  readonly outputHole: number;
}

/**
 * `shapes: false` parses every chunk: the reference the shortcut is measured and tested against
 * (npm run bench:stream-read, test/stream-shapes.test.ts).
 */
export function createGeminiStreamMapper(opts: StreamOptions, { shapes = true } = {}): StreamMapper {
  const w = new ChunkWriter(opts, opts.clientWantsUsage);
  let opened = false;
  let tools = 0;
  const text = new ShapeReader<LearntUsage>({ shapes });
  return {
    map(ev: SseEvent): StreamStep {
      if (opened && text.match(ev.data) && text.literalLength(0) > 2) {
        const frames = [w.textLiteral(text.literal(ev.data, 0))];
        const learnt = text.tag!;
        if (learnt.usage === null) return { frames };
        const usage =
          learnt.outputHole < 0
            ? { ...learnt.usage }
            : { ...learnt.usage, tokensOutput: text.count(ev.data, learnt.outputHole) };
        return { frames, usage };
      }
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
      learnText(text, ev.data, chunk);
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

/**
 * Learns the shape of a chunk that is one candidate's one text part and its usage, nothing ending:
 * every chunk of a stream but its first and last, as Gemini sends them.
 */
function learnText(reader: ShapeReader<LearntUsage>, data: string, chunk: GenerateContentResponse): void {
  const cands = chunk.candidates;
  if (!Array.isArray(cands) || cands.length !== 1) return;
  const cand = cands[0];
  if (typeof cand !== 'object' || cand === null || cand.finishReason !== undefined) return;
  const parts = cand.content?.parts;
  if (!Array.isArray(parts) || parts.length !== 1) return;
  const part = parts[0];
  if (typeof part !== 'object' || part === null) return;
  if (typeof part.text !== 'string' || !part.text || part.thought || part.functionCall) return;
  const meta =
    typeof chunk.usageMetadata === 'object' && chunk.usageMetadata !== null ? chunk.usageMetadata : undefined;
  const holes: Hole[] = [{ key: 'text', value: part.text }];
  for (const k of COUNTS) if (typeof meta?.[k] === 'number') holes.push({ key: k, value: meta[k] as number });
  reader.learn(
    {
      usage: usageFromGemini(meta),
      outputHole: holes.findIndex((h) => h.key === 'candidatesTokenCount'),
    },
    () => textShapeOf(data, holes),
  );
}

/** The shape of a text chunk around its text and running counts, proven by a probed parse. */
function textShapeOf(data: string, holes: readonly Hole[]): ChunkShape | null {
  const holds = (probed: unknown) => {
    const q = probed as GenerateContentResponse;
    return (
      q.candidates?.[0]?.content?.parts?.[0]?.text === probeValue(0) &&
      holes.every((h, i) => i === 0 || q.usageMetadata?.[h.key] === probeCount(i))
    );
  };
  return learnShape(data, holes, holds, false);
}
