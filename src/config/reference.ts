// The configuration reference, read off the schema itself: every field's path, type, default
// (with its unit, which the field's name carries last: `…Ms`, `…Bytes`), whether it is required,
// and what it means (the schema's own comments, extracted by `npm run docs:config` into
// field-docs.ts). docs/config.md and `entente config explain FIELD` are both rendered from it, and
// a test keeps them in step with the schema.
import type { z } from 'zod';
import { FIELD_DOCS } from './field-docs.js';
import { configSchema } from './schema.js';

export interface FieldRef {
  /** `server.port`, `upstreams[].auth.apiKey`. */
  readonly path: string;
  readonly type: string;
  /** The default, as YAML would write it; null when there is none. */
  readonly default: string | null;
  readonly required: boolean;
  readonly description: string;
}

interface Def {
  type: string;
  innerType?: z.ZodType;
  defaultValue?: unknown;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  options?: z.ZodType[];
  entries?: Record<string, string>;
  values?: unknown[];
  in?: z.ZodType;
  valueType?: z.ZodType;
  getter?: () => z.ZodType;
}

const defOf = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The schema under wrappers that do not change the field's shape. */
function unwrap(s: z.ZodType): { s: z.ZodType; optional: boolean; dflt: unknown } {
  let optional = false;
  let dflt: unknown;
  for (;;) {
    const d = defOf(s);
    if (d.type === 'optional' || d.type === 'nullable') optional = true;
    else if (d.type === 'default' || d.type === 'prefault') {
      optional = true;
      if (dflt === undefined) dflt = d.defaultValue;
    } else if (d.type === 'pipe' && d.in) {
      s = d.in;
      continue;
    } else if (d.type === 'lazy' && d.getter) {
      s = d.getter();
      continue;
    } else if (d.type !== 'readonly') return { s, optional, dflt };
    s = d.innerType!;
  }
}

function typeName(s: z.ZodType): string {
  const d = defOf(unwrap(s).s);
  switch (d.type) {
    case 'enum':
      return Object.values(d.entries ?? {})
        .map((v) => JSON.stringify(v))
        .join(' | ');
    case 'literal':
      return (d.values ?? []).map((v) => JSON.stringify(v)).join(' | ');
    case 'array':
      return `list of ${typeName(d.element!)}`;
    case 'union':
      return (d.options ?? []).map(typeName).join(' | ');
    case 'record':
      return `map of ${typeName(d.valueType!)}`;
    case 'object':
      return 'object';
    default:
      return d.type;
  }
}

/** A default as YAML writes it, with its unit in words when the field's name ends with one. */
function show(v: unknown, path: string): string | null {
  if (v === undefined) return null;
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return '(the fields’ defaults)';
  const text = JSON.stringify(v);
  if (typeof v !== 'number' || v === 0) return text;
  const scale = SCALES.find(([suffix]) => path.endsWith(suffix));
  return scale ? `${text} (${human(v, scale[1])})` : text;
}

/** A setting whose name ends in a unit is shown in that unit's largest whole step too. */
const SCALES: readonly (readonly [string, readonly [number, string][]])[] = [
  [
    'Ms',
    [
      [3_600_000, 'h'],
      [60_000, 'min'],
      [1_000, 's'],
      [1, 'ms'],
    ],
  ],
  [
    'Bytes',
    [
      [1_073_741_824, 'GiB'],
      [1_048_576, 'MiB'],
      [1_024, 'KiB'],
      [1, 'bytes'],
    ],
  ],
];

function human(v: number, units: readonly (readonly [number, string])[]): string {
  const [size, name] = units.find(([u]) => v >= u && v % u === 0) ?? units.at(-1)!;
  return `${v / size} ${name}`;
}

/** Every field of a schema, depth first, in the schema's order. */
export function fieldsOf(schema: z.ZodType, docs: Readonly<Record<string, string>>, prefix = ''): FieldRef[] {
  const out: FieldRef[] = [];
  const d = defOf(unwrap(schema).s);
  const shapes: Record<string, z.ZodType>[] = [];
  if (d.type === 'object') shapes.push(d.shape!);
  for (const shape of shapes)
    for (const [key, field] of Object.entries(shape)) {
      const path = prefix ? `${prefix}.${key}` : key;
      const u = unwrap(field);
      out.push({
        path,
        type: typeName(field),
        default: show(u.dflt, path),
        required: !u.optional,
        description: docs[path] ?? '',
      });
      const inner = defOf(u.s);
      if (inner.type === 'object') out.push(...fieldsOf(u.s, docs, path));
      else if (inner.type === 'array') {
        const el = unwrap(inner.element!).s;
        if (defOf(el).type === 'object') out.push(...fieldsOf(el, docs, `${path}[]`));
      } else if (inner.type === 'union')
        for (const o of inner.options ?? []) {
          const os = unwrap(o).s;
          if (defOf(os).type === 'object')
            for (const f of fieldsOf(os, docs, path)) if (!out.some((x) => x.path === f.path)) out.push(f);
        }
    }
  return out;
}

export function configReference(docs: Readonly<Record<string, string>> = FIELD_DOCS): FieldRef[] {
  return fieldsOf(configSchema, docs);
}

const escapeCell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** docs/config.md. */
export function renderConfigReference(fields: readonly FieldRef[]): string {
  const lines = [
    '# Configuration reference',
    '',
    'Generated from the schema (`src/config/schema.ts`) by `npm run docs:config`; a test fails when',
    'this file and the schema differ. `npx entente config explain FIELD` prints one entry.',
    '',
    'The config file is read and validated once, at start: **every field below applies on restart**.',
    'What changes while Entente runs, without a restart: the contents of the agreement file',
    '(re-read every `agreement.pollMs`), API keys and their limits (in the store: `entente keys …`',
    'or the admin API, applied by every node within a second), and the rollout log (`entente',
    "rollout …`). Units are the last word of a field's name: `…Ms` milliseconds, `…Bytes` bytes.",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the text quotes the config's ${NAME} syntax
    '`${NAME}` in a string value is replaced by the environment variable NAME, `${NAME:-default}` with a',
    'default when it is unset (a missing one without a default is an',
    'error naming the field).',
    '',
    '| Field | Type | Default | Required | Meaning |',
    '|---|---|---|---|---|',
  ];
  for (const f of fields)
    lines.push(
      `| \`${f.path}\` | ${escapeCell(f.type)} | ${f.default === null ? '' : `\`${escapeCell(f.default)}\``} | ${f.required ? 'yes' : ''} | ${escapeCell(f.description)} |`,
    );
  return `${lines.join('\n')}\n`;
}
