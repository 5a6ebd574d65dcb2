// One ConverseStream event-stream message → OpenAI chunks (providers.md 4.4). Order:
// messageStart, [contentBlockStart] contentBlockDelta* contentBlockStop per block, messageStop,
// metadata (the usage, always last).
import type { SseEvent } from '../../sse/index.js';
import {
  badResponse,
  ChunkWriter,
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
  delta?: { text?: string; toolUse?: { input?: string } };
  stopReason?: string;
  usage?: unknown;
  serviceTier?: { type?: unknown };
  message?: string;
}

export function createConverseStreamMapper(opts: StreamOptions): StreamMapper {
  const w = new ChunkWriter(opts, opts.clientWantsUsage);
  /** Content block index → OpenAI tool-call index. */
  const tools = new Map<number, number>();
  return {
    map(ev: SseEvent): StreamStep {
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
          if (typeof d?.text === 'string') return d.text ? { frames: [w.text(d.text)] } : EMPTY;
          if (typeof d?.toolUse?.input === 'string') {
            const index = tools.get(p.contentBlockIndex ?? 0);
            if (index === undefined)
              return { frames: [], error: badResponse('Bedrock sent tool input before its block start') };
            return d.toolUse.input ? { frames: [w.toolArgs(index, d.toolUse.input)] } : EMPTY;
          }
          return EMPTY; // reasoning, citations: not part of the chat completion
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
