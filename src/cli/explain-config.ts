// `entente config explain [FIELD] [--json]`: one field of the configuration reference (or every
// field under a prefix, or the list of fields), from the schema itself.

import { configReference, type FieldRef } from '../config/index.js';
import type { CliInput, Fail } from './cli-input.js';

function describe(f: FieldRef): string {
  return [
    f.path,
    `  type:     ${f.type}`,
    `  default:  ${f.default ?? '(none)'}`,
    `  required: ${f.required ? 'yes' : 'no'}`,
    '  applies:  on restart (the config is read once, at start)',
    ...(f.description ? [`  ${f.description}`] : []),
  ].join('\n');
}

export function explainConfig(input: CliInput, fail: Fail): void {
  const { positionals } = input;
  const all = configReference();
  const field = positionals[0];
  // `upstreams.auth.apiKey` finds `upstreams[].auth.apiKey` too.
  const norm = (p: string) => p.replace(/\[\]/g, '');
  const picked = field
    ? all.filter((f) => norm(f.path) === norm(field) || norm(f.path).startsWith(`${norm(field)}.`))
    : all;
  if (picked.length === 0) {
    const asked = norm(field!).toLowerCase();
    const near = all.map((f) => f.path).filter((p) => distance(norm(p).toLowerCase(), asked) <= 2);
    fail(
      `no config field '${field}'${near.length ? `; did you mean ${near.join(', ')}?` : ''} (entente config explain lists them all)`,
      1,
    );
  }
  if (input.flags.has('json')) {
    process.stdout.write(`${JSON.stringify(picked, null, 2)}\n`);
    return;
  }
  if (!field) {
    for (const f of picked)
      process.stdout.write(`${f.path}\t${f.type}${f.default === null ? '' : ` = ${f.default}`}\n`);
    return;
  }
  process.stdout.write(`${picked.map(describe).join('\n\n')}\n`);
}

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}
