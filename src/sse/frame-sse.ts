// Frames SSE events for the wire. The only place in Entente that writes `data: ` lines.

/** One `data:` event; a payload with newlines is split over several data lines, as the spec requires. */
export function frameData(data: string, event?: string): string {
  const head = event ? `event: ${event}\n` : '';
  if (!data.includes('\n')) return `${head}data: ${data}\n\n`;
  return `${head}${data
    .split('\n')
    .map((l) => `data: ${l}`)
    .join('\n')}\n\n`;
}

export const DONE_FRAME = 'data: [DONE]\n\n';
