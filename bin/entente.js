#!/usr/bin/env node
// The `entente` program: the compiled CLI (npm run build compiles src/ and sim/ into dist/), given
// the simulators so that the default config's simulated clouds start beside the gateway.
let modules;
try {
  modules = await Promise.all([import('../dist/src/cli/main.js'), import('../dist/sim/cli-hook.js')]);
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes('/dist/')) throw err;
  process.stderr.write(
    'entente: [not_built] the CLI is not compiled yet: run `npm run build` (or `npm start`, which builds first) in the entente folder.\n',
  );
  process.exit(1);
}
const [{ runCli }, { simulatorHooks }] = modules;
runCli(process.argv.slice(2), simulatorHooks);
