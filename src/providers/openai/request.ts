// Canonical → OpenAI. The canonical request is the OpenAI request, so this only points it at the
// deployment and, when streaming, always asks for the usage chunk: usage must be exact even when
// the client did not ask for it (the stream mapper hides the chunk from such a client).
import type { ChatRequest } from '../../canonical/index.js';

export function toOpenAIBody(req: ChatRequest, model: string): string {
  if (req.stream === true) {
    return JSON.stringify({
      ...req,
      model,
      stream_options: { ...(req.stream_options ?? {}), include_usage: true },
    });
  }
  return JSON.stringify({ ...req, model });
}
