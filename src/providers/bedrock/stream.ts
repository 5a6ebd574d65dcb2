// One ConverseStream event-stream message → OpenAI chunks (providers.md 4.4). Order:
// messageStart, [contentBlockStart] contentBlockDelta* contentBlockStop per block, messageStop,
// metadata (the usage, always last). A text delta of a shape learnt earlier in the stream
// (spec/chunk-shape.ts: the same payload but for its text and its padding `p`, which real Bedrock
// adds at a random length) is read without parsing it, and its text literal goes into the client's
// chunk as Bedrock wrote it: the same JSON string.
import type { SseEvent } from '../../sse/index.js';
import {
  badResponse,
  type ChunkShape,
  ChunkWriter,
  type Hole,
  learnShape,
  probeValue,
  REASONING_DELTA,
  ShapeReader,
  type StreamMapper,
  type StreamOptions,
  type StreamStep,
  streamFailure,
  tierOf,
  type UpstreamFailureKind,
} from '../spec/index.js';
import { finishFromBedrock, usageFromBedrock } from './response.js';

const EMPTY: StreamStep = { frames: [] };

export function exceptionKind(type: string): UpstreamFailureKind {
  if (type === 'throttlingException' || type === 'serviceUnavailableException') return 'rate_limited';
  if (type === 'validationException') return 'client';
  return 'server';
}

interface Payload {
  contentBlockIndex?: number;
  start?: { toolUse?: { toolUseId?: string; name?: string } };
  delta?: { text?: string; toolUse?: { input?: string }; reasoningContent?: { text?: string } };
  p?: unknown;
  stopReason?: string;
  usage?: unknown;
  serviceTier?: { type?: unknown };
  message?: string;
}

/**
 * `shapes: false` parses every event: the reference the shortcut is measured and tested against
 * (npm run bench:stream-read, test/stream-shapes.test.ts).
 */
export function createConverseStreamMapper(opts: StreamOptions, { shapes = true } = {}): StreamMapper {
  const w = new ChunkWriter(opts, opts.clientWantsUsage);
  /** Content block index → OpenAI tool-call index. */
  const tools = new Map<number, number>();
  const text = new ShapeReader<null>({ shapes });
  return {
    map(ev: SseEvent): StreamStep {
      if (ev.event === 'contentBlockDelta' && text.match(ev.data))
        return text.literalLength(0) > 2 ? { frames: [w.textLiteral(text.literal(ev.data, 0))] } : EMPTY;
      let p: Payload;
      try {
        p = JSON.parse(ev.data) as Payload;
      } catch {
        return { frames: [], error: badResponse('Bedrock sent an event whose payload is not JSON') };
      }
      if (ev.event.startsWith('exception:') || ev.event.startsWith('error:')) {
        const type = ev.event.slice(ev.event.indexOf(':') + 1);
        return {
          frames: [],
          error: streamFailure(exceptionKind(type), p.message ?? `Bedrock stream ${type}`, type),
        };
      }
      switch (ev.event) {
        case 'messageStart':
          return { frames: [w.role()], preamble: true };
        case 'contentBlockStart': {
          const t = p.start?.toolUse;
          if (!t?.toolUseId || !t.name) return EMPTY;
          const index = tools.size;
          tools.set(p.contentBlockIndex ?? 0, index);
          return { frames: [w.toolStart(index, t.toolUseId, t.name)] };
        }
        case 'contentBlockDelta': {
          const d = p.delta;
          if (typeof d?.text === 'string') {
            const t = d.text;
            text.learn(null, () => textShapeOf(ev.data, t, p.p));
            return d.text ? { frames: [w.text(d.text)] } : EMPTY;
          }
          if (typeof d?.toolUse?.input === 'string') {
            const index = tools.get(p.contentBlockIndex ?? 0);
            if (index === undefined)
              return { frames: [], error: badResponse('Bedrock sent tool input before its block start') };
            return d.toolUse.input ? { frames: [w.toolArgs(index, d.toolUse.input)] } : EMPTY;
          }
          // Reasoning is not part of the chat completion, but the cloud bills it (inside
          // outputTokens): counted, should the stream end early. Its signature and citations are not.
          return typeof d?.reasoningContent?.text === 'string' ? REASONING_DELTA : EMPTY;
        }
        case 'messageStop': {
          const finishReason = finishFromBedrock(p.stopReason);
          return { frames: [w.finish(finishReason)], finishReason };
        }
        case 'metadata': {
          const usage = usageFromBedrock(p.usage);
          if (!usage) return { frames: [], done: true };
          return { frames: w.usage(usage), usage, done: true, ...tierOf(p.serviceTier?.type) };
        }
        default:
          return EMPTY; // contentBlockStop, and event types added later
      }
    },
  };
}

/** The shape of a text delta's payload around its text and its padding, proven by a probed parse. */
function textShapeOf(data: string, text: string, padding: unknown): ChunkShape | null {
  const holes: Hole[] = [{ key: 'text', value: text }];
  if (typeof padding === 'string') holes.push({ key: 'p', value: padding });
  const holds = (probed: unknown) => {
    const q = probed as Payload;
    return q.delta?.text === probeValue(0) && (typeof padding !== 'string' || q.p === probeValue(1));
  };
  return learnShape(data, holes, holds, false);
}
