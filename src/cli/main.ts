// The `entente` command: `entente --help` lists the commands. The command tree (program.ts) is
// all that loads before a command is known; the command itself is imported then (execute.ts).
import { createRequire } from 'node:module';
import { EntenteError, isEntenteError } from '../errors/index.js';
import type { CliHooks } from './hooks.js';
import { buildProgram, CommanderError, type Invocation } from './program.js';

const VERSION = (createRequire(import.meta.url)('../../../package.json') as { version: string }).version;

function report(err: EntenteError, exitCode: number): never {
  process.stderr.write(`entente: [${err.code}] ${err.message}\n`);
  process.exit(exitCode);
}

/** Runs the CLI; every failure is printed as `entente: [code] message` with its exit status. */
export function runCli(argv: string[], hooks: CliHooks = {}): void {
  // A reader that stops early (`entente keys list | head -1`) closes the pipe: that ends the
  // output, as for any Unix tool, and is not an error worth a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  let invocation: Invocation | null = null;
  const program = buildProgram(VERSION, (i) => {
    invocation = i;
  });
  try {
    if (argv.length === 0) {
      process.stdout.write(program.helpInformation());
      return;
    }
    program.parse(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0 || err.code === 'commander.help' || err.code === 'commander.helpDisplayed')
        process.exit(0);
      report(new EntenteError('cli_usage', err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')), 2);
    }
    throw err;
  }
  const inv = invocation as Invocation | null;
  if (!inv) return;
  if (inv.dataDir !== undefined) {
    process.env.ENTENTE_DATA_DIR = inv.dataDir;
    process.env.ENTENTE_DATA_DIR_FROM_FLAG = '1';
  }
  import('./execute.js')
    .then(({ execute, setConfigFlag }) => {
      setConfigFlag(inv.config);
      return execute(inv.path, inv.input, hooks);
    })
    .catch((err: unknown) => {
      if (isEntenteError(err)) return report(err, err.exitCode);
      const detail = inv.debug
        ? ((err as Error).stack ?? String(err))
        : `${(err as Error).message ?? String(err)} (run with --debug for the stack trace)`;
      process.stderr.write(`entente: [internal_error] ${detail}\n`);
      process.exit(1);
    });
}
