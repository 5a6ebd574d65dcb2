// Where the CLI finds its config and data, in one order for every command, said on stderr so that
// nobody wonders which file a command read: the flag, then the environment, then ./entente.yaml in
// the working directory, then the shipped example. The data directory: --data-dir, then
// ENTENTE_DATA_DIR, then the config's dataDir (relative to the working directory).
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const EXAMPLE_CONFIG = fileURLToPath(new URL('../../../examples/entente.yaml', import.meta.url));

export interface Resolved {
  readonly path: string;
  /** How it was chosen, in words: `--config`, `ENTENTE_CONFIG`, `./entente.yaml`, `the example`. */
  readonly source: string;
}

export function resolveConfigPath(
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): Resolved {
  if (flag) return { path: resolve(cwd, flag), source: '--config' };
  if (env.ENTENTE_CONFIG) return { path: resolve(cwd, env.ENTENTE_CONFIG), source: 'ENTENTE_CONFIG' };
  const local = resolve(cwd, 'entente.yaml');
  if (existsSync(local)) return { path: local, source: './entente.yaml' };
  return { path: EXAMPLE_CONFIG, source: 'the example: no --config, ENTENTE_CONFIG or ./entente.yaml' };
}

/** The data directory's source, given that a --data-dir flag was copied into ENTENTE_DATA_DIR. */
export function dataDirSource(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ENTENTE_DATA_DIR_FROM_FLAG) return '--data-dir';
  if (env.ENTENTE_DATA_DIR) return 'ENTENTE_DATA_DIR';
  return "the config's dataDir";
}
