// Reads how long an upstream asked us to wait: `retry-after-ms` (OpenAI, Azure) first, then
import { systemClock } from '../../clock/index.js';

// `retry-after` as seconds or an HTTP date (RFC 9110 section 10.2.3).

type Headers = Record<string, string | string[] | undefined>;

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

export function retryAfterMs(headers: Headers, nowMs: number = systemClock.now()): number | null {
  const ms = first(headers['retry-after-ms']);
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.ceil(Number(ms));
  const ra = first(headers['retry-after'])?.trim();
  if (!ra) return null;
  if (/^\d+$/.test(ra)) return Number(ra) * 1000;
  const date = Date.parse(ra);
  return Number.isNaN(date) ? null : Math.max(0, date - nowMs);
}
