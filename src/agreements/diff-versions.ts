// What an amendment changed, term by term: a generic structural diff of two versions' terms,
// where lists of records are matched by id (or holder), values are shown the way the file
// states them (instants in ISO, ratios as n/d, money in major units).
import type { AgreementVersion } from './schema.js';

export interface Change {
  /** e.g. "licences[ms-ip].exclusivity" */
  readonly path: string;
  readonly kind: 'added' | 'removed' | 'changed';
  readonly before?: string;
  readonly after?: string;
}

const INSTANT_KEYS = new Set(['from', 'to', 'until']);

function show(key: string, v: unknown): string {
  if (v === undefined) return '(none)';
  if (typeof v === 'bigint') {
    // Money is held in micro-units.
    const major = v / 1_000_000n;
    const minor = v % 1_000_000n;
    return minor === 0n
      ? major.toLocaleString('en-US')
      : `${major}.${minor.toString().padStart(6, '0').replace(/0+$/, '')}`;
  }
  if (typeof v === 'number' && INSTANT_KEYS.has(key)) return new Date(v).toISOString();
  if (v && typeof v === 'object' && 'num' in v && 'den' in v)
    return `${(v as { num: bigint }).num}/${(v as { den: bigint }).den}`;
  if (Array.isArray(v)) return v.length === 0 ? '[]' : `[${v.map((x) => show('', x)).join(', ')}]`;
  if (v && typeof v === 'object')
    return `{${Object.entries(v)
      .map(([k, x]) => `${k}: ${show(k, x)}`)
      .join(', ')}}`;
  return String(v);
}

function keyOf(item: unknown): string | null {
  if (item && typeof item === 'object') {
    const o = item as Record<string, unknown>;
    if (typeof o.id === 'string') return o.id;
    if (typeof o.holder === 'string') return o.holder;
  }
  return null;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === 'object' && !Array.isArray(v) && !('num' in v && 'den' in v);
}

function walk(path: string, key: string, a: unknown, b: unknown, out: Change[]): void {
  if (Array.isArray(a) && Array.isArray(b) && [...a, ...b].every((x) => keyOf(x) !== null)) {
    const am = new Map(a.map((x) => [keyOf(x)!, x]));
    const bm = new Map(b.map((x) => [keyOf(x)!, x]));
    for (const [k, x] of am) {
      if (!bm.has(k)) out.push({ path: `${path}[${k}]`, kind: 'removed', before: show('', x) });
      else walk(`${path}[${k}]`, '', x, bm.get(k), out);
    }
    for (const [k, y] of bm)
      if (!am.has(k)) out.push({ path: `${path}[${k}]`, kind: 'added', after: show('', y) });
    return;
  }
  if (isRecord(a) && isRecord(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      if (k === 'note') continue;
      walk(path ? `${path}.${k}` : k, k, a[k], b[k], out);
    }
    return;
  }
  const before = show(key, a);
  const after = show(key, b);
  if (before === after) return;
  if (a === undefined) out.push({ path, kind: 'added', after });
  else if (b === undefined) out.push({ path, kind: 'removed', before });
  else out.push({ path, kind: 'changed', before, after });
}

export function diffVersions(from: AgreementVersion, to: AgreementVersion): Change[] {
  const out: Change[] = [];
  walk('', '', from.terms, to.terms, out);
  return out;
}

export function formatChanges(
  from: AgreementVersion,
  to: AgreementVersion,
  changes: readonly Change[],
): string {
  const lines = [
    `${from.id} → ${to.id} (effective ${new Date(to.validFrom).toISOString()}): ${changes.length} changes`,
  ];
  for (const c of changes) {
    if (c.kind === 'changed') lines.push(`  ~ ${c.path}: ${c.before} → ${c.after}`);
    else if (c.kind === 'added') lines.push(`  + ${c.path}: ${c.after}`);
    else lines.push(`  - ${c.path}: ${c.before}`);
  }
  return lines.join('\n');
}
