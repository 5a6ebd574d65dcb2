// The simulators' hook for the `entente` program: bin/entente.js hands it to the CLI, so that
// `entente serve` starts the simulated clouds the default config names and `entente sim` runs one.
// The simulators load only when one is started. Nothing under src/ imports this folder.
import type { CliHooks } from '../src/cli/hooks.js';

export const simulatorHooks: CliHooks = {
  startSimulator: async (opts) => (await import('./index.js')).startAnySimulator(opts),
};
