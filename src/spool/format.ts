// The spool's on-disk format: one usage record per line, `<crc32 as 8 hex digits> <JSON>\n`, in
// segment files `usage-<index>.spool`. A line is trusted only when it is complete (ends in a
// newline) and its checksum matches: a crash mid-write leaves at most a torn last line, which is
// dropped (its request never got its answer: the line is written before the answer's last byte).
import { crc32 } from 'node:zlib';
import type { UsageRecord } from '../store/index.js';

export const SEGMENT_PATTERN = /^usage-(\d{10})\.spool$/;

export function segmentName(index: number): string {
  return `usage-${String(index).padStart(10, '0')}.spool`;
}

export function encodeLine(record: UsageRecord): string {
  const json = JSON.stringify(record);
  return `${crc32(json).toString(16).padStart(8, '0')} ${json}\n`;
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
    if (
      line.length < 10 ||
      line[8] !== ' ' ||
      crc32(json).toString(16).padStart(8, '0') !== line.slice(0, 8)
    ) {
      corrupt++;
      continue;
    }
    try {
      const r = JSON.parse(json) as UsageRecord;
      // Spools written before records carried their API surface: those were chat or embeddings.
      records.push(
        r.surface
          ? r
          : {
              ...r,
              surface: r.tokensOutput === 0 && r.deployment?.includes('embed') ? 'embeddings' : 'chat',
            },
      );
    } catch {
      corrupt++;
    }
  }
  return { records, corrupt, rest: text.slice(start) };
}
