#!/usr/bin/env node
// The `entente` program: the compiled CLI (npm run build compiles src/ and sim/ into dist/), given
// the simulators so that the default config's simulated clouds start beside the gateway.
const [{ runCli }, { simulatorHooks }] = await Promise.all([
  import('../dist/src/cli/main.js'),
  import('../dist/sim/cli-hook.js'),
]);
runCli(process.argv.slice(2), simulatorHooks);
