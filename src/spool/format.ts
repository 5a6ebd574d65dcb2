// The spool's on-disk format: one usage record per line, `<crc32 as 8 hex digits> <JSON>\n`, in
// segment files `usage-<index>.spool`. A line is trusted only when it is complete (ends in a
// newline) and its checksum matches: a crash mid-write leaves at most a torn last line, which is
// dropped (its request never got its answer: the line is written before the answer's last byte).
//
// The JSON is an array of the record's fields in FIELDS order, then, only when any is set,
// capacity, tier and the attempt log (null where unset). Fields added later go at the end, so an
// older line reads as a record without them. Spools written before this format hold a JSON
// object per line; those are still read. The array is what the serving thread writes for every
// request: against the object it is 188 bytes instead of 463 for a typical record, and it
// encodes and decodes in about two thirds of the time (0.97 against 1.43 µs, 0.92 against 1.33).
import { crc32 } from 'node:zlib';
import { hex8 } from '../encoding/index.js';
import type { AttemptRecord, UsageRecord } from '../store/index.js';

export const SEGMENT_PATTERN = /^usage-(\d{10})\.spool$/;

export function segmentName(index: number): string {
  return `usage-${String(index).padStart(10, '0')}.spool`;
}

/**
 * The fields every line carries, in their order; the optional ones follow them. The order is the
 * format: spools already on disk are read by it, so it never changes, and a new field goes after
 * the optional ones. encodeLine and fromFields spell it out (a loop over this list measured 1.4
 * against 1.0 µs to encode, 1.9 against 1.0 to decode); test/spool-format checks the three agree.
 * The values are the record's own, not a database row's (store/rows.ts usageToRow, the same
 * fields): booleans stay booleans and times are not rounded, since the ledger prices the record.
 */
export const FIELDS = [
  'requestId',
  'tenantId',
  'keyId',
  'model',
  'modelVersion',
  'cloud',
  'region',
  'upstreamId',
  'deployment',
  'surface',
  'stream',
  'status',
  'errorCode',
  'usageExact',
  'attempts',
  'tokensInputUncached',
  'tokensInputCached',
  'tokensOutput',
  'tokensReasoning',
  'startedAtMs',
  'latencyMs',
  'overheadUs',
] as const satisfies readonly (keyof UsageRecord)[];

export function encodeLine(r: UsageRecord): string {
  // Written out, not mapped over FIELDS: this runs once per request on the serving thread.
  const a: unknown[] = [
    r.requestId,
    r.tenantId,
    r.keyId,
    r.model,
    r.modelVersion,
    r.cloud,
    r.region,
    r.upstreamId,
    r.deployment,
    r.surface,
    r.stream,
    r.status,
    r.errorCode,
    r.usageExact,
    r.attempts,
    r.tokensInputUncached,
    r.tokensInputCached,
    r.tokensOutput,
    r.tokensReasoning,
    r.startedAtMs,
    r.latencyMs,
    r.overheadUs,
  ];
  if (r.capacity !== undefined || r.tier !== undefined || r.attemptLog !== undefined)
    a.push(r.capacity ?? null, r.tier ?? null, r.attemptLog ?? null);
  const json = JSON.stringify(a);
  return `${hex8(crc32(json))} ${json}\n`;
}

/** A line's array back into its record; null when it is not one (too short). */
function fromFields(a: unknown[]): UsageRecord | null {
  if (a.length < FIELDS.length) return null;
  const r: { -readonly [K in keyof UsageRecord]: UsageRecord[K] } = {
    requestId: a[0] as string,
    tenantId: a[1] as string,
    keyId: a[2] as string,
    model: a[3] as string,
    modelVersion: a[4] as string | null,
    cloud: a[5] as string | null,
    region: a[6] as string | null,
    upstreamId: a[7] as string | null,
    deployment: a[8] as string | null,
    surface: a[9] as UsageRecord['surface'],
    stream: a[10] as boolean,
    status: a[11] as number,
    errorCode: a[12] as string | null,
    usageExact: a[13] as boolean,
    attempts: a[14] as number,
    tokensInputUncached: a[15] as number,
    tokensInputCached: a[16] as number,
    tokensOutput: a[17] as number,
    tokensReasoning: a[18] as number,
    startedAtMs: a[19] as number,
    latencyMs: a[20] as number,
    overheadUs: a[21] as number,
  };
  const n = FIELDS.length;
  if (a[n] != null) r.capacity = a[n] as string;
  if (a[n + 1] != null) r.tier = a[n + 1] as string;
  if (a[n + 2] != null) r.attemptLog = a[n + 2] as AttemptRecord[];
  return r;
}

/** A record written before the array format: a JSON object. */
function fromObject(r: UsageRecord): UsageRecord {
  // Spools written before records carried their API surface: those were chat or embeddings.
  return r.surface
    ? r
    : { ...r, surface: r.tokensOutput === 0 && r.deployment?.includes('embed') ? 'embeddings' : 'chat' };
}

export interface Decoded {
  readonly records: UsageRecord[];
  /** Lines that were complete but failed their checksum or did not parse. */
  readonly corrupt: number;
  /** Bytes at the end that do not yet make a complete line. */
  readonly rest: string;
}

/** Decodes the complete lines of `text`; an incomplete last line comes back as `rest`. */
export function decodeLines(text: string): Decoded {
  const records: UsageRecord[] = [];
  let corrupt = 0;
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    if (nl === -1) break;
    const line = text.slice(start, nl);
    start = nl + 1;
    const json = line.slice(9);
    if (line.length < 10 || line[8] !== ' ' || hex8(crc32(json)) !== line.slice(0, 8)) {
      corrupt++;
      continue;
    }
    try {
      const v = JSON.parse(json) as unknown;
      const r = Array.isArray(v)
        ? fromFields(v)
        : typeof v === 'object' && v !== null
          ? fromObject(v as UsageRecord)
          : null;
      if (r) records.push(r);
      else corrupt++;
    } catch {
      corrupt++;
    }
  }
  return { records, corrupt, rest: text.slice(start) };
}
