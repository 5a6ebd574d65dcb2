// The config and the store as the CLI commands read them: ENTENTE_DATA_DIR (or --data-dir)
// overrides the data directory, as it does for `entente serve`, and the command says on stderr
// which data it reads, so that a command run from the wrong directory is not silently empty.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type LoadedConfig, loadConfig } from '../config/index.js';
import { EntenteError } from '../errors/index.js';
import { openStore, type Store } from '../store/index.js';
import { dataDirSource } from './resolve-paths.js';

export function loadCliConfig(configFile: string): LoadedConfig {
  return loadConfig(
    configFile,
    process.env,
    process.env.ENTENTE_DATA_DIR ? { dataDir: process.env.ENTENTE_DATA_DIR } : {},
  );
}

/**
 * Opens the store the config names (PostgreSQL when DATABASE_URL is set). A command that only
 * reads refuses a data directory that holds no database, rather than create an empty one there.
 */
export async function openCliStore(loaded: LoadedConfig, opts: { create?: boolean } = {}): Promise<Store> {
  const pg = /^postgres(ql)?:\/\//.test(process.env.DATABASE_URL ?? '');
  if (pg) process.stderr.write('entente: store PostgreSQL (DATABASE_URL)\n');
  else {
    const source = dataDirSource();
    process.stderr.write(`entente: data ${loaded.dataDir} (${source})\n`);
    if (!opts.create && !existsSync(join(loaded.dataDir, 'entente.db')))
      throw new EntenteError(
        'no_database',
        `no Entente database in ${loaded.dataDir} (${source}${source === "the config's dataDir" ? ', relative to the working directory' : ''}): run the command where the gateway runs, or pass --data-dir (or ENTENTE_DATA_DIR)`,
      );
  }
  return openStore(loaded.dataDir);
}
