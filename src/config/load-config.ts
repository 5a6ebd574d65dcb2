// Loads the YAML config: parse, substitute ${ENV} references, validate with zod, then freeze.
// Every failure names the file, the line and column, the path in the document, and the fix.
import { dirname, resolve } from 'node:path';
import { type Config, configSchema } from './schema.js';
import { ConfigError, type ConfigProblem, parseYaml, readSourceFile, zodProblems } from './yaml-document.js';

export { ConfigError, type ConfigProblem };

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
  /** Absolute path of the agreement file, when the config names one. */
  readonly agreementFile: string | null;
  /** Absolute path of the price-book file, when the config names one. */
  readonly priceBooksFile: string | null;
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
  const source = parseYaml(text, file);
  const missing: string[] = [];
  const raw = substituteEnv(source.value, env, missing) as Record<string, unknown> | null;
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
  if (!result.success) problems.push(...zodProblems(source, result.error));
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(result.data!);
}

export function loadConfig(
  path: string,
  env: NodeJS.ProcessEnv = process.env,
  overrides: ConfigOverrides = {},
): LoadedConfig {
  const { file, text } = readSourceFile(path, 'config');
  const config = parseConfigText(text, file, env, overrides);
  return {
    config,
    file,
    dataDir: resolve(config.dataDir),
    agreementFile: config.agreement ? resolve(dirname(file), config.agreement.file) : null,
    priceBooksFile: config.ledger ? resolve(dirname(file), config.ledger.priceBooks) : null,
  };
}
