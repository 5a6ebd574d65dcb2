// Loads the YAML config: parse, substitute ${ENV} references, validate with zod, then freeze.
// Every failure names the file, the line and column, the path in the document, and the fix.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { isNode, LineCounter, parseDocument } from 'yaml';
import { type Config, configSchema } from './schema.js';

export interface ConfigProblem {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  readonly path: string;
  readonly message: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(
      `invalid configuration:\n${problems.map((p) => `  ${p.file}:${p.line}:${p.column} ${p.path ? `${p.path}: ` : ''}${p.message}`).join('\n')}`,
    );
    this.name = 'ConfigError';
  }
}

export interface ConfigOverrides {
  readonly port?: number;
  readonly host?: string;
  readonly dataDir?: string;
}

export interface LoadedConfig {
  readonly config: Config;
  /** Absolute path of the config file. */
  readonly file: string;
  /** Absolute data directory (a relative dataDir resolves against the working directory). */
  readonly dataDir: string;
}

function substituteEnv(value: unknown, env: NodeJS.ProcessEnv, missing: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, fallback?: string) => {
      const v = env[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      missing.push(name);
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((v) => substituteEnv(v, env, missing));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env, missing)]));
  }
  return value;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

export function parseConfigText(
  text: string,
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  overrides: ConfigOverrides = {},
): Config {
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
  const missing: string[] = [];
  const raw = substituteEnv(doc.toJS(), env, missing) as Record<string, unknown> | null;
  if (!raw || typeof raw !== 'object') {
    throw new ConfigError([
      { file, line: 1, column: 1, path: '', message: 'the config must be a YAML mapping' },
    ]);
  }
  if (overrides.dataDir !== undefined) raw.dataDir = overrides.dataDir;
  if (overrides.port !== undefined || overrides.host !== undefined) {
    const server = { ...((raw.server as Record<string, unknown> | undefined) ?? {}) };
    if (overrides.port !== undefined) server.port = overrides.port;
    if (overrides.host !== undefined) server.host = overrides.host;
    raw.server = server;
  }
  const result = configSchema.safeParse(raw);
  const problems: ConfigProblem[] = missing.map((name) => ({
    file,
    line: 1,
    column: 1,
    path: '',
    message: `environment variable ${name} is referenced but not set (use \${${name}:-default} for a default)`,
  }));
  if (!result.success) {
    for (const issue of result.error.issues) {
      const path = issue.path as (string | number)[];
      // Point at the deepest node that exists in the document.
      let node: unknown;
      for (let n = path.length; n >= 0 && !isNode(node); n--) node = doc.getIn(path.slice(0, n), true);
      const range = isNode(node) ? node.range : undefined;
      problems.push({
        file,
        ...(range ? locate(range[0]) : { line: 1, column: 1 }),
        path: path
          .map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`))
          .join('')
          .replace(/^\./, ''),
        message: issue.message,
      });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(result.data!);
}

export function loadConfig(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
  overrides: ConfigOverrides = {},
): LoadedConfig {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([
      {
        file,
        line: 0,
        column: 0,
        path: '',
        message: `cannot read the config file: ${(err as Error).message}`,
      },
    ]);
  }
  const config = parseConfigText(text, file, env, overrides);
  return { config, file, dataDir: resolve(config.dataDir) };
}
