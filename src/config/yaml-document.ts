// YAML documents that remember where each value came from, so that every validation error, from
// zod or from a semantic check, names the file, line, column and path. Shared by the config
// loader and the agreement loader.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isNode, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { EntenteError } from '../errors/index.js';

export interface ConfigProblem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly path: string;
  readonly message: string;
  /** A stable code (docs/errors.md lists the agreement's); absent for YAML syntax errors. */
  readonly code?: string;
}

export class ConfigError extends EntenteError {
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(
      'config_invalid',
      `invalid configuration:\n${problems
        .map(
          (p) =>
            `  ${p.file}:${p.line}:${p.column} ${p.path ? `${p.path}: ` : ''}${p.code ? `[${p.code}] ` : ''}${p.message}`,
        )
        .join('\n')}`,
    );
    this.name = 'ConfigError';
  }
}

export type DocPath = readonly (string | number)[];

export function formatPath(path: DocPath): string {
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`))
    .join('')
    .replace(/^\./, '');
}

export interface YamlSource {
  readonly file: string;
  readonly value: unknown;
  /** A problem located at the deepest node of `path` that exists in the document. */
  problem(path: DocPath, message: string, code?: string): ConfigProblem;
}

/** Parses YAML text; syntax errors throw a ConfigError with their positions. */
export function parseYaml(text: string, file: string): YamlSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const locate = (offset: number) => {
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => ({ file, ...locate(e.pos[0]), path: '', message: e.message.split('\n')[0]! })),
    );
  }
  return {
    file,
    value: doc.toJS(),
    problem(path, message, code) {
      let node: unknown;
      for (let n = path.length; n >= 0 && !isNode(node); n--) node = doc.getIn(path.slice(0, n), true);
      const range = isNode(node) ? node.range : undefined;
      return {
        file,
        ...(range ? locate(range[0]) : { line: 1, column: 1 }),
        path: formatPath(path),
        message,
        ...(code ? { code } : {}),
      };
    },
  };
}

/**
 * zod's issues as located problems, each with a stable code: the one a custom check names
 * (`params.code`), else one for the kind of issue.
 */
export function zodProblems(source: YamlSource, error: z.ZodError): ConfigProblem[] {
  return error.issues.map((issue) => {
    const path = issue.path as (string | number)[];
    const named = (issue as { params?: { code?: unknown } }).params?.code;
    if (typeof named === 'string') return source.problem(path, issue.message, named);
    if (issue.code === 'unrecognized_keys') return source.problem(path, issue.message, 'unknown_field');
    // A field that is not there at all says so, whatever type it should have had.
    if (
      (issue.code === 'invalid_type' || issue.code === 'invalid_union') &&
      valueAt(source.value, path) === undefined
    )
      return source.problem(path, `${String(path.at(-1) ?? 'a value')} is required`, 'missing_field');
    return source.problem(
      path,
      issue.message,
      issue.code === 'invalid_type' ? 'invalid_type' : 'invalid_value',
    );
  });
}

function valueAt(root: unknown, path: readonly (string | number)[]): unknown {
  let v = root;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[k];
  }
  return v;
}

/** Reads a YAML source file; an unreadable file is a located ConfigError like any other. */
export function readSourceFile(path: string, what: string): { file: string; text: string } {
  const file = resolve(path);
  try {
    return { file, text: readFileSync(file, 'utf8') };
  } catch (err) {
    throw new ConfigError([
      {
        file,
        line: 0,
        column: 0,
        path: '',
        message: `cannot read the ${what} file: ${(err as Error).message}`,
      },
    ]);
  }
}
