// Client encoders: turn the canonical answer (a chat.completion body, chunk payloads) into what
// the client's API sends. Chat completions passes it through; the Responses API re-shapes it.
import { errorBody, type GatewayError, gatewayError } from '../errors/index.js';
import { DONE_FRAME, frameData } from '../sse/index.js';
import { type ResponseShell, ResponsesStreamEncoder, responseFromCompletion } from './responses/from-chat.js';

export interface ClientEncoder {
  /** The stream mappers must emit the usage chunk, whatever the client asked. */
  readonly forceUsage: boolean;
  json(body: string | Uint8Array): string | Uint8Array;
  frames(frames: readonly string[]): string;
  end(): string;
  error(code: GatewayError['code'], message: string | undefined): string;
}

export const chatEncoder: ClientEncoder = {
  forceUsage: false,
  json: (body) => body,
  frames: (frames) =>
    frames.length === 1 ? frameData(frames[0]!) : frames.map((f) => frameData(f)).join(''),
  end: () => DONE_FRAME,
  error: (code, message) => frameData(errorBody(gatewayError(code, message))),
};

/** A fresh encoder per attempt: the Responses stream encoder keeps state. */
export function responsesEncoder(shell: ResponseShell): () => ClientEncoder {
  return () => {
    const stream = new ResponsesStreamEncoder(shell);
    return {
      forceUsage: true,
      json: (body) => responseFromCompletion(shell, body),
      frames: (frames) => stream.frames(frames),
      end: () => stream.end(),
      error: (code, message) => stream.error(code, message ?? code),
    };
  };
}
