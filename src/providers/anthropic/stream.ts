// Anthropic's named SSE events → OpenAI chunks (providers.md 6.4): message_start (input usage),
// content blocks, message_delta (stop reason, cumulative output tokens), message_stop.
// Claude on Bedrock wraps each event in an event-stream `chunk` message as base64 bytes. A text
// delta of a shape learnt earlier in the stream (spec/chunk-shape.ts: the same event but for its
// text) is read without parsing it, and its text literal goes into the client's chunk as written.
import type { SseEvent } from '../../sse/index.js';
import { exceptionKind } from '../bedrock/stream.js';
import {
  badResponse,
  type ChunkShape,
  ChunkWriter,
  type FinishReason,
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
import { finishFromAnthropic, usageFromAnthropic } from './response.js';

const EMPTY: StreamStep = { frames: [] };

export function kindForAnthropicError(type: string | undefined): UpstreamFailureKind {
  if (type === 'rate_limit_error') return 'rate_limited';
  if (type === 'invalid_request_error' || type === 'request_too_large') return 'client';
  if (type === 'authentication_error' || type === 'permission_error') return 'auth';
  if (type === 'not_found_error') return 'not_found';
  return 'server'; // overloaded_error, api_error, timeout_error
}

interface Ev {
  type?: string;
  index?: number;
  message?: { usage?: Record<string, unknown> };
  content_block?: { type?: string; id?: string; name?: string; text?: string };
  delta?: { type?: string; text?: string; partial_json?: string; stop_reason?: string };
  usage?: Record<string, unknown>;
  error?: { type?: string; message?: string };
}

/**
 * `shapes: false` parses every event: the reference the shortcut is measured and tested against
 * (npm run bench:stream-read, test/stream-shapes.test.ts).
 */
export function createMessagesStreamMapper(opts: StreamOptions, { shapes = true } = {}): StreamMapper {
  const w = new ChunkWriter(opts, opts.clientWantsUsage);
  const tools = new Map<number, number>();
  let usage: Record<string, unknown> = {};
  let finish: FinishReason | undefined;
  /** Tagged with the SSE event name the learnt delta came under: the switch reads the name first. */
  const text = new ShapeReader<string>({ shapes });
  return {
    map(ev: SseEvent): StreamStep {
      if (ev.event === text.tag && text.match(ev.data))
        return text.literalLength(0) > 2 ? { frames: [w.textLiteral(text.literal(ev.data, 0))] } : EMPTY;
      let e: Ev;
      try {
        e = JSON.parse(ev.data) as Ev;
      } catch {
        return { frames: [], error: badResponse('Anthropic sent a stream event that is not valid JSON') };
      }
      switch (ev.event || e.type) {
        case 'message_start': {
          usage = { ...(e.message?.usage ?? {}) };
          // The prompt's figures are final here: a stream that ends early is billed by them.
          const prompt = usageFromAnthropic(usage);
          return { frames: [w.role()], preamble: true, ...(prompt ? { promptUsage: prompt } : {}) };
        }
        case 'content_block_start': {
          const b = e.content_block;
          if (b?.type === 'tool_use' && b.id && b.name) {
            const index = tools.size;
            tools.set(e.index ?? 0, index);
            return { frames: [w.toolStart(index, b.id, b.name)] };
          }
          if (b?.type === 'text' && b.text) return { frames: [w.text(b.text)] };
          return EMPTY;
        }
        case 'content_block_delta': {
          const d = e.delta;
          if (d?.type === 'text_delta' && typeof d.text === 'string') {
            const t = d.text;
            text.learn(ev.event, () => textShapeOf(ev.data, t));
            return d.text ? { frames: [w.text(d.text)] } : EMPTY;
          }
          if (d?.type === 'input_json_delta' && d.partial_json) {
            const index = tools.get(e.index ?? 0);
            if (index === undefined)
              return { frames: [], error: badResponse('Anthropic sent tool input before its block start') };
            return { frames: [w.toolArgs(index, d.partial_json)] };
          }
          // Thinking is not sent to the client, but the cloud bills it: counted, should the
          // stream end early. Signatures and citations are neither.
          return d?.type === 'thinking_delta' ? REASONING_DELTA : EMPTY;
        }
        case 'message_delta': {
          // Cumulative: each message_delta's counts replace the earlier ones.
          for (const [k, v] of Object.entries(e.usage ?? {})) if (v != null) usage[k] = v;
          if (!e.delta?.stop_reason) return EMPTY;
          finish = finishFromAnthropic(e.delta.stop_reason);
          return { frames: [w.finish(finish)], finishReason: finish };
        }
        case 'message_stop': {
          const u = usageFromAnthropic(usage);
          if (!u) return { frames: [], done: true };
          return { frames: w.usage(u), usage: u, done: true, ...tierOf(usage.service_tier) };
        }
        case 'error':
          return {
            frames: [],
            error: streamFailure(
              kindForAnthropicError(e.error?.type),
              e.error?.message ?? 'Anthropic reported an error inside the stream',
              e.error?.type ?? null,
            ),
          };
        default:
          return EMPTY; // ping, content_block_stop, event types added later
      }
    },
  };
}

/** The shape of a text delta around its text, proven by a probed parse. */
function textShapeOf(data: string, text: string): ChunkShape | null {
  const holds = (probed: unknown) => {
    const e = probed as Ev;
    return (
      e.type === 'content_block_delta' && e.delta?.type === 'text_delta' && e.delta.text === probeValue(0)
    );
  };
  return learnShape(data, [{ key: 'text', value: text }], holds, false);
}

/** Claude on Bedrock: `chunk` messages carrying one base64-encoded Anthropic event each. */
export function createBedrockClaudeStreamMapper(opts: StreamOptions): StreamMapper {
  const inner = createMessagesStreamMapper(opts);
  return {
    map(ev: SseEvent): StreamStep {
      if (ev.event.startsWith('exception:') || ev.event.startsWith('error:')) {
        const type = ev.event.slice(ev.event.indexOf(':') + 1);
        let message = `Bedrock stream ${type}`;
        try {
          message = (JSON.parse(ev.data) as { message?: string }).message ?? message;
        } catch {
          // keep the type
        }
        return { frames: [], error: streamFailure(exceptionKind(type), message, type) };
      }
      if (ev.event !== 'chunk') return EMPTY;
      let data: string;
      try {
        data = Buffer.from((JSON.parse(ev.data) as { bytes: string }).bytes, 'base64').toString('utf8');
      } catch {
        return { frames: [], error: badResponse('Bedrock sent a chunk without base64 bytes') };
      }
      return inner.map({ event: '', data });
    },
  };
}
