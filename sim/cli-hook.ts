// The simulators' hook for the `entente` program: bin/entente.js hands it to the CLI, so that
// `entente serve` starts the simulated clouds the default config names and `entente sim` runs one.
// Nothing under src/ imports this folder.
import type { CliHooks } from '../src/cli/hooks.js';
import { startAnySimulator } from './index.js';

export const simulatorHooks: CliHooks = {
  startSimulator: (opts) => startAnySimulator(opts),
};
