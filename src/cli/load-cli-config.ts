// The config as the CLI commands read it: ENTENTE_DATA_DIR overrides the data directory, as it
// does for `entente serve`.
import { type LoadedConfig, loadConfig } from '../config/index.js';

export function loadCliConfig(configFile: string): LoadedConfig {
  return loadConfig(
    configFile,
    process.env,
    process.env.ENTENTE_DATA_DIR ? { dataDir: process.env.ENTENTE_DATA_DIR } : {},
  );
}
