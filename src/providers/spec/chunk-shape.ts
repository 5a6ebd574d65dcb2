// A stream's chunks read as one JSON text with holes. Within one OpenAI-shaped stream the chunks
// differ only in a few strings: the content (or a tool call's arguments), and a padding field whose
// length varies (`obfuscation`); the id, model, fields and their order stay. Gemini's differ in the
// text and in two running token counts. A shape is learnt from one parsed chunk: the fixed text
// between those values. A later chunk that is exactly that text with a JSON string literal in each
// string hole, and a count in each number hole, is the learnt chunk with other values, so its step
// follows from the holes alone, without parsing it. Where each hole lies is proven once per shape,
// by parsing the learnt text with a probe in every hole.
// Syntax: RFC 8259, sections 6 and 7 (https://www.rfc-editor.org/rfc/rfc8259#section-6).

export interface ChunkShape {
  /** The fixed text around the holes, in text order: one more piece than holes. */
  readonly pieces: readonly string[];
  /** The frame's fixed text: the pieces, or the pieces with the `,"usage":null` field taken out. */
  readonly out: readonly string[];
  /** Hole i (in the order learnShape was given them) is the `order[i]`-th hole in the text. */
  readonly order: readonly number[];
  /** Whether the k-th hole in the text holds a count (else a string literal). */
  readonly counts: readonly boolean[];
}

/**
 * A field of the parsed chunk that varies from chunk to chunk: a string, or a count (a
 * non-negative integer, written as digits alone: no sign, fraction, exponent or leading zero).
 */
export interface Hole {
  readonly key: string;
  readonly value: string | number;
}

/** The literal put in hole i to prove where it lies, and its value once parsed. */
export const probeLiteral = (i: number) => `"\\u0000entente-probe-${i}"`;
export const probeValue = (i: number) => `\u0000entente-probe-${i}`;
/** The count put in number hole i to prove where it lies. */
export const probeCount = (i: number) => 987_654_321_000 + i;
/** A count hole holds at most this many digits: every such count is a safe integer. */
const MAX_COUNT_DIGITS = 15;
const USAGE_NULL = ',"usage":null';
const USAGE_NULL_TAIL = `${USAGE_NULL}}`;

/** A chunk's text without its `"usage":null` field when that field is the chunk's last; else null. */
export function cutUsageNullTail(text: string): string | null {
  return text.endsWith(USAGE_NULL_TAIL) ? `${text.slice(0, -USAGE_NULL_TAIL.length)}}` : null;
}

/** Shapes a stream learns at most: a stream whose chunks differ elsewhere (a field that varies) stops trying. */
const MAX_SHAPES = 3;

/**
 * One stream's learnt shape, with what its mapper tags it with (the event name it came under, say),
 * and the holes of the text it last matched. `shapes: false` learns nothing: every chunk is parsed,
 * the reference the shortcut is measured and tested against.
 */
export class ShapeReader<Tag> {
  #shape: ChunkShape | null = null;
  #tag: Tag | undefined;
  #tries: number;
  readonly #spans: number[] = [];

  constructor({ shapes = true }: { shapes?: boolean } = {}) {
    this.#tries = shapes ? 0 : MAX_SHAPES;
  }

  /** The learnt shape's tag; undefined before one is learnt. */
  get tag(): Tag | undefined {
    return this.#tag;
  }

  /** Whether `text` is of the learnt shape; if so, the holes below are read from it. */
  match(text: string): boolean {
    return this.#shape !== null && matchShape(this.#shape, text, this.#spans);
  }

  /** Hole i's JSON string literal in the text last matched (quotes included). */
  literal(text: string, i: number): string {
    const at = 2 * this.#shape!.order[i]!;
    return text.slice(this.#spans[at]!, this.#spans[at + 1]!);
  }

  /** Number hole i's count in the text last matched. */
  count(text: string, i: number): number {
    const at = 2 * this.#shape!.order[i]!;
    return Number(text.slice(this.#spans[at]!, this.#spans[at + 1]!));
  }

  /** The length of hole i's literal in the text last matched: 2 is the empty string. */
  literalLength(i: number): number {
    const at = 2 * this.#shape!.order[i]!;
    return this.#spans[at + 1]! - this.#spans[at]!;
  }

  /** The client's frame of the text last matched. */
  frame(text: string): string {
    return frameOf(this.#shape!, text, this.#spans);
  }

  /** A chunk that was not of the shape (or came before one): learn its shape, a few times a stream at most. */
  learn(tag: Tag, shapeOf: () => ChunkShape | null): void {
    if (this.#tries >= MAX_SHAPES) return;
    this.#tries++;
    const shape = shapeOf();
    if (shape === null) return;
    this.#shape = shape;
    this.#tag = tag;
  }
}

/**
 * The shape of `text` around `holes`, or null when it cannot be proven: a hole's literal (as
 * JSON.stringify writes it, after its key) is not in the text exactly once, or `holds` says a
 * probed parse does not carry each probe where the hole belongs. With `dropUsage` the frame leaves
 * out the top-level `"usage":null` field (proven by parsing the frame's text too).
 */
export function learnShape(
  text: string,
  holes: readonly Hole[],
  holds: (probed: unknown) => boolean,
  dropUsage: boolean,
): ChunkShape | null {
  const spans: { start: number; end: number; hole: number; count: boolean }[] = [];
  for (let i = 0; i < holes.length; i++) {
    const h = holes[i]!;
    const count = typeof h.value === 'number';
    if (count ? !isCount(String(h.value)) : (h.value as string).startsWith('\u0000entente-probe'))
      return null;
    const needle = `"${h.key}":${JSON.stringify(h.value)}`;
    const at = text.indexOf(needle);
    if (at === -1 || text.indexOf(needle, at + 1) !== -1) return null;
    spans.push({ start: at + h.key.length + 3, end: at + needle.length, hole: i, count });
  }
  spans.sort((a, b) => a.start - b.start);
  const pieces: string[] = [];
  const order: number[] = new Array(holes.length);
  const counts: boolean[] = [];
  let pos = 0;
  for (let k = 0; k < spans.length; k++) {
    const s = spans[k]!;
    if (s.start < pos) return null;
    pieces.push(text.slice(pos, s.start));
    order[s.hole] = k;
    counts.push(s.count);
    pos = s.end;
  }
  pieces.push(text.slice(pos));
  const probes = spans.map((s) => (s.count ? String(probeCount(s.hole)) : probeLiteral(s.hole)));
  let probed: unknown;
  try {
    probed = JSON.parse(fill(pieces, probes));
  } catch {
    return null;
  }
  if (!holds(probed)) return null;
  if (!dropUsage) return { pieces, out: pieces, order, counts };
  const last = pieces.length - 1;
  // Last in the text, `"usage":null` is the top-level object's last member: cut without a proof.
  const cut = cutUsageNullTail(pieces[last]!);
  if (cut !== null) return { pieces, out: pieces.map((p, k) => (k === last ? cut : p)), order, counts };
  const out = withoutUsageNull(pieces);
  if (out === null) return null;
  // The frame's text must be the chunk without its usage field, and nothing else changed.
  const rest = { ...(probed as object) } as { usage?: unknown };
  delete rest.usage;
  try {
    if (JSON.stringify(JSON.parse(fill(out, probes))) !== JSON.stringify(rest)) return null;
  } catch {
    return null;
  }
  return { pieces, out, order, counts };
}

/** The pieces with the one `,"usage":null` among them taken out; null when there is not exactly one. */
function withoutUsageNull(pieces: readonly string[]): string[] | null {
  let found = -1;
  for (let k = 0; k < pieces.length; k++) {
    const at = pieces[k]!.indexOf(USAGE_NULL);
    if (at === -1) continue;
    if (found !== -1 || pieces[k]!.indexOf(USAGE_NULL, at + 1) !== -1) return null;
    found = k;
  }
  if (found === -1) return null;
  return pieces.map((p, k) => (k === found ? p.replace(USAGE_NULL, '') : p));
}

function fill(pieces: readonly string[], literals: readonly string[]): string {
  let s = pieces[0]!;
  for (let k = 0; k < literals.length; k++) s += literals[k]! + pieces[k + 1]!;
  return s;
}

/**
 * Whether `text` is of the shape: its pieces, in order, with one JSON string literal in each string
 * hole and a count in each number hole. `spans` gets each hole's [start, end), in text order.
 */
function matchShape(shape: ChunkShape, text: string, spans: number[]): boolean {
  const p = shape.pieces;
  let pos = 0;
  for (let k = 0; ; k++) {
    const piece = p[k]!;
    // Slices compared for equality, as memory: startsWith ran char by char, 4 to 8 times slower.
    if (text.slice(pos, pos + piece.length) !== piece) return false;
    pos += piece.length;
    if (k === p.length - 1) return pos === text.length;
    const end = shape.counts[k] ? endOfCount(text, pos) : endOfJsonString(text, pos);
    if (end === -1) return false;
    spans[2 * k] = pos;
    spans[2 * k + 1] = end;
    pos = end;
  }
}

/** The frame of a matched text: the text itself, or its holes in the frame's fixed text. */
function frameOf(shape: ChunkShape, text: string, spans: readonly number[]): string {
  if (shape.out === shape.pieces) return text;
  let s = shape.out[0]!;
  for (let k = 0; k + 1 < shape.out.length; k++)
    s += text.slice(spans[2 * k]!, spans[2 * k + 1]!) + shape.out[k + 1]!;
  return s;
}

/**
 * Where the JSON string literal opening at s[from] ends (the index after its closing quote), or
 * -1 when no valid literal opens there: an unescaped control character, a bad escape, no end.
 */
export function endOfJsonString(s: string, from: number): number {
  if (s.charCodeAt(from) !== 34) return -1;
  const n = s.length;
  let i = from + 1;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === 34) return i + 1;
    if (c < 32) return -1;
    if (c !== 92) {
      i++;
      continue;
    }
    const e = s.charCodeAt(i + 1);
    if (e === 117) {
      if (i + 6 > n) return -1;
      for (let k = i + 2; k < i + 6; k++) if (!isHex(s.charCodeAt(k))) return -1;
      i += 6;
    } else if (
      e === 34 ||
      e === 92 ||
      e === 47 ||
      e === 98 ||
      e === 102 ||
      e === 110 ||
      e === 114 ||
      e === 116
    ) {
      i += 2;
    } else return -1;
  }
  return -1;
}

/**
 * Where the count opening at s[from] ends: after `0`, or after a digit 1–9 and more digits, at most
 * MAX_COUNT_DIGITS in all; -1 when none opens there. What follows is the next piece's to match (a
 * piece that goes on with the number, `.0` say, was proven with the probe before it: the parse
 * gave the probe's value there).
 */
function endOfCount(s: string, from: number): number {
  const c = s.charCodeAt(from);
  if (c === 48) return from + 1;
  if (!(c >= 49 && c <= 57)) return -1;
  let i = from + 1;
  const max = from + MAX_COUNT_DIGITS;
  while (i < s.length && i < max) {
    const d = s.charCodeAt(i);
    if (d < 48 || d > 57) break;
    i++;
  }
  return i;
}

const isCount = (digits: string): boolean =>
  /^(0|[1-9][0-9]*)$/.test(digits) && digits.length <= MAX_COUNT_DIGITS;

/** Whether s[from, to) is exactly one JSON string literal. */
export const isJsonString = (s: string, from: number, to: number): boolean => endOfJsonString(s, from) === to;

const isHex = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
