// Incremental Server-Sent Events parser, per the WHATWG HTML spec's "event stream
// interpretation" (https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream).
// Bytes go in as they arrive from the network; whole events come out. Every provider that speaks
// SSE (OpenAI, Azure, Gemini, Anthropic, the Responses API) is read through this one parser.

export interface SseEvent {
  /** The `event:` field, or '' when the event had none (the spec's default type is "message"). */
  readonly event: string;
  readonly data: string;
  readonly id?: string;
}

export class SseParser {
  readonly #decoder = new TextDecoder('utf-8');
  #buffer = '';
  #event = '';
  #data: string[] = [];
  #id: string | undefined;
  #sawCr = false;
  #first = true;

  /** Feeds a chunk of bytes; returns the events completed by it (possibly none). */
  push(chunk: Uint8Array): SseEvent[] {
    let text = this.#decoder.decode(chunk, { stream: true });
    if (this.#first && text.length > 0) {
      this.#first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    return this.#consume(text);
  }

  /** Ends the stream. An event not terminated by a blank line is discarded, as the spec says. */
  end(): SseEvent[] {
    const tail = this.#decoder.decode();
    const out = tail ? this.#consume(tail) : [];
    this.#buffer = '';
    this.#data = [];
    return out;
  }

  #consume(text: string): SseEvent[] {
    // Nothing read (or only the first bytes of a character): a CR kept waiting for its LF still waits.
    if (text.length === 0) return [];
    const out: SseEvent[] = [];
    // The text kept from the read before holds no line end: the search starts after it.
    const from = this.#buffer.length;
    const buf = from > 0 ? this.#buffer + text : text;
    let start = 0;
    // A CR at the end of the previous chunk may be the first half of a CRLF.
    if (this.#sawCr && buf.charCodeAt(0) === 10) start = 1;
    this.#sawCr = false;
    // The engine's search finds each line end.
    const at = Math.max(start, from);
    let cr = buf.indexOf('\r', at);
    if (cr === -1) {
      // Lines end in LF alone, as most providers send them.
      for (let i = buf.indexOf('\n', at); i !== -1; i = buf.indexOf('\n', start)) {
        this.#lineAt(buf, start, i, out);
        start = i + 1;
      }
    } else {
      // CRLF (as Google sends them), or a lone CR: the nearer of the next CR and the next LF.
      let lf = buf.indexOf('\n', at);
      while (cr !== -1 || lf !== -1) {
        let i = lf;
        if (cr !== -1 && (lf === -1 || cr < lf)) {
          i = cr;
          this.#lineAt(buf, start, i, out);
          if (i + 1 === buf.length) this.#sawCr = true;
          else if (buf.charCodeAt(i + 1) === 10) i++;
        } else this.#lineAt(buf, start, i, out);
        start = i + 1;
        if (cr !== -1 && cr < start) cr = buf.indexOf('\r', start);
        if (lf !== -1 && lf < start) lf = buf.indexOf('\n', start);
      }
    }
    this.#buffer = start === 0 ? buf : buf.slice(start);
    return out;
  }

  /** The line buf[start, end). A `data:` line, nearly every line, is read in place: one slice. */
  #lineAt(buf: string, start: number, end: number, out: SseEvent[]): void {
    if (end > start + 4 && buf.charCodeAt(start + 4) === 58 && buf.startsWith('data', start)) {
      const v = start + 5 < end && buf.charCodeAt(start + 5) === 32 ? start + 6 : start + 5;
      this.#data.push(buf.slice(v, end));
      return;
    }
    this.#line(buf.slice(start, end), out);
  }

  #line(line: string, out: SseEvent[]): void {
    if (line.length === 0) {
      const d = this.#data;
      if (d.length > 0) {
        // One data line is the common case: no join. No spread either (an object per event).
        const data = d.length === 1 ? d[0]! : d.join('\n');
        out.push(
          this.#id !== undefined ? { event: this.#event, data, id: this.#id } : { event: this.#event, data },
        );
      }
      this.#event = '';
      this.#data = [];
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ':' comment
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'data':
        this.#data.push(value);
        break;
      case 'event':
        this.#event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.#id = value;
        break;
      default:
        break; // `retry` and unknown fields do not concern a proxy.
    }
  }
}
