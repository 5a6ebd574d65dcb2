// The command tree of `entente`, on commander (the argument parser most Node CLIs use, with no
// dependencies of its own): every command and subcommand has --help, unknown commands and flags
// are refused with a suggestion, and the same tree generates shell completion. Each leaf declares
// its arguments and options here, and commander's parse is what the command (execute.ts) receives.
import { Command, CommanderError, type Option } from 'commander';
import type { CliInput } from './cli-input.js';

export interface LeafSpec {
  readonly name: string;
  readonly summary: string;
  /** commander argument syntax: `<model> [file]`… */
  readonly args?: string;
  readonly options?: readonly (readonly [flags: string, description: string])[];
  /** Reads only: has --json. */
  readonly json?: boolean;
}

export interface CommandSpec extends LeafSpec {
  readonly subs?: readonly LeafSpec[];
}

const LIMITS: readonly (readonly [string, string])[] = [
  ['--rpm <n>', 'requests per minute'],
  ['--tpm <n>', 'tokens per minute (input + output)'],
  ['--concurrent <n>', 'requests in flight at once'],
  ['--budget <amount/period>', 'money per day or month, e.g. 5.00/month'],
];
const AGREEMENT: readonly [string, string] = [
  '--agreement <file>',
  'the agreement file (default: the one the config names)',
];

/** Every command: what `entente --help` lists, and what completion offers. */
export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'serve',
    summary: 'start the gateway (and the simulated clouds the config names)',
    options: [
      ['--port <n>', 'listen port (env ENTENTE_PORT; config server.port)'],
      ['--host <host>', 'listen address (env ENTENTE_HOST; config server.host)'],
    ],
  },
  {
    name: 'config',
    summary: 'check and explain the configuration',
    subs: [
      { name: 'validate', summary: 'check the config (and its agreement and price books) as serve would' },
      {
        name: 'explain',
        summary: 'a field of the config: type, default, unit, when it applies',
        args: '[field]',
        json: true,
      },
    ],
  },
  {
    name: 'keys',
    summary: 'API keys: create, list, rotate, limit, revoke',
    subs: [
      {
        name: 'create',
        summary: 'issue a key (its secret is printed once)',
        options: [
          ['--tenant <id>', 'the tenant the key belongs to (required)'],
          ['--id <key-id>', 'the key id (default: derived from its hash)'],
          ['--models <a,b>', 'models the key may use (default: all)'],
          ['--expires <instant>', 'ISO-8601 instant the key stops working'],
          ...LIMITS,
        ],
      },
      {
        name: 'list',
        summary: 'the keys in id order (hashes never shown in full)',
        json: true,
        options: [
          ['--limit <n>', 'at most n keys (default: all); the next page is named on stderr'],
          ['--after <key-id>', 'only keys whose id sorts after this one'],
        ],
      },
      {
        name: 'limits',
        summary: "set a key's limits, live on every node",
        args: '<key-id>',
        options: [...LIMITS, ['--clear', 'remove every limit of the key']],
      },
      {
        name: 'rotate',
        summary: 'a new key; the old one works for the grace period',
        args: '<key-id>',
        options: [['--grace <seconds>', 'how long the old key keeps working (3600)']],
      },
      { name: 'revoke', summary: 'revoke a key at once', args: '<key-id>' },
      { name: 'hash', summary: 'the SHA-256 of a key, to put in a config file', args: '<key>' },
    ],
  },
  {
    name: 'agreement',
    summary: 'the partnership agreement: validate, show as of a date, diff versions',
    subs: [
      { name: 'validate', summary: 'check an agreement file', args: '[file]', options: [AGREEMENT] },
      {
        name: 'show',
        summary: 'the terms in force at a date',
        args: '[file]',
        json: true,
        options: [
          AGREEMENT,
          ['--as-of <date>', 'valid time (default: now)'],
          ['--known-at <date>', 'transaction time: as recorded then'],
        ],
      },
      {
        name: 'diff',
        summary: 'what a version changed',
        args: '[file] [from] [to]',
        json: true,
        options: [AGREEMENT],
      },
      { name: 'schema', summary: 'the JSON Schema of agreement files', json: true },
    ],
  },
  {
    name: 'rollout',
    summary: 'the rollout log: where each model version is live, promotions, waivers',
    subs: [
      {
        name: 'status',
        summary: 'each model version × cloud, with its verdict',
        json: true,
        options: [AGREEMENT],
      },
      {
        name: 'promote',
        summary: 'record a model version live on a cloud at a stage',
        args: '<model> <version> <cloud> <stage>',
        options: [AGREEMENT, ['--region <region>', 'the region'], ['--evidence <text>', 'why, for the log']],
      },
      {
        name: 'waive',
        summary: 'lift the first-deployment rule for a version (capability gap + partner decision)',
        args: '<model> <version>',
        options: [
          AGREEMENT,
          ['--capability <text>', 'the capability the primary cloud lacks'],
          ['--primary-cannot-support', 'the primary cloud cannot support it'],
          ['--partner-decision <ref>', "the partner's recorded decision"],
        ],
      },
    ],
  },
  {
    name: 'route',
    summary: 'how a model routes',
    subs: [
      {
        name: 'explain',
        summary: 'the eligible deployments, in order, and why the others are not',
        json: true,
        options: [
          ['--model <name>', 'the model (required)'],
          ['--tenant <id>', 'as this tenant (licences)'],
          ['--at <instant>', 'at this instant (default: now)'],
          AGREEMENT,
        ],
      },
    ],
  },
  {
    name: 'ledger',
    summary: 'the double-entry ledger',
    subs: [
      { name: 'balances', summary: 'every account’s balance' },
      {
        name: 'statement',
        summary: "a period's statement",
        options: [
          ['--period <yyyy-mm>', 'the period (required)'],
          ['--account <account>', 'one account'],
          ['--format <csv|json>', 'output format (default: text)'],
        ],
      },
      {
        name: 'close',
        summary: 'close a period (its statement never changes)',
        options: [['--period <yyyy-mm>', 'the period']],
      },
      {
        name: 'refund',
        summary: "refund part of a request's revenue (and its accrual)",
        options: [
          ['--request <request-id>', 'the request'],
          ['--amount <amount>', 'in major units, e.g. 1.25'],
          ['--id <refund-id>', 'idempotency key of the refund'],
        ],
      },
    ],
  },
  {
    name: 'revenue-share',
    summary: 'revenue shares',
    subs: [
      { name: 'status', summary: 'accrued, cap, remaining, run-rate, when the cap is reached', json: true },
    ],
  },
  {
    name: 'prices',
    summary: 'price books',
    subs: [
      {
        name: 'show',
        summary: "each model version's price and the book it comes from",
        json: true,
        options: [['--as-of <date>', 'at this date (default: now)']],
      },
    ],
  },
  {
    name: 'audit',
    summary: 'who changed what, newest first',
    json: true,
    options: [
      ['--limit <n>', 'how many entries (50)'],
      ['--action <action>', 'only this action, e.g. key.revoke'],
      ['--subject <subject>', 'only this subject'],
    ],
  },
  {
    name: 'capacity',
    summary: 'provisioned pools',
    subs: [
      { name: 'status', summary: 'utilization, spill-over, effective price', json: true },
      {
        name: 'forecast',
        summary: 'forecast, saturation date, recommended size, backtest error',
        json: true,
      },
    ],
  },
  {
    name: 'usage',
    summary: 'the usage log',
    subs: [{ name: 'replay', summary: 'rebuild the ledger from the usage log and compare' }],
  },
  {
    name: 'spool',
    summary: "a node's usage spool",
    subs: [
      { name: 'ship', summary: "store and post what a dead node's spool holds (idempotent)", args: '<dir>' },
    ],
  },
  {
    name: 'demo',
    summary: 'demonstrations against a running gateway',
    subs: [
      {
        name: 'traffic',
        summary: 'a realistic request mix',
        options: [
          ['--url <url>', 'the gateway (default http://127.0.0.1:$ENTENTE_PORT)'],
          ['--key <key>', 'the API key'],
          ['--licensee-key <key>', "a licensee's API key"],
          ['--count <n>', 'requests (300)'],
          ['--concurrency <n>', 'in flight at once (4)'],
          ['--faults', 'inject faults into the Azure simulator'],
          ['--azure-sim <url>', 'the Azure simulator (for --faults)'],
        ],
      },
    ],
  },
  {
    name: 'sim',
    summary: 'run one cloud simulator on its own',
    options: [
      ['--kind <kind>', 'openai | azure-openai | bedrock | google | anthropic'],
      ['--port <n>', 'listen port (0: any)'],
      ['--latency-ms <n>', 'added latency'],
      ['--tokens-per-second <n>', 'stream pace (0: all at once)'],
    ],
  },
  {
    name: 'completion',
    summary: 'a shell completion script: eval "$(entente completion bash)"',
    args: '<shell>',
  },
];

export const EXIT_CODES = `Exit codes:
  0  done
  1  the command failed (a refusal, an invalid file, something not found)
  2  the command line is wrong (unknown command or flag, a missing argument)`;

export interface Invocation {
  /** The command and subcommand. */
  readonly path: readonly string[];
  readonly input: CliInput;
  readonly config: string | undefined;
  readonly dataDir: string | undefined;
  readonly debug: boolean;
}

/** A leaf's own arguments and options, as commander parsed them, by each option's long name. */
function inputOf(cmd: Command): CliInput {
  const opts = cmd.opts() as Record<string, unknown>;
  const values: Record<string, string> = {};
  const flags = new Set<string>();
  for (const o of cmd.options as Option[]) {
    const v = opts[o.attributeName()];
    if (v === undefined || v === false || !o.long) continue;
    const name = o.long.slice(2);
    if (v === true) flags.add(name);
    else values[name] = String(v);
  }
  return { values, flags, positionals: [...cmd.args] };
}

function addLeaf(
  parent: Command,
  spec: LeafSpec,
  path: readonly string[],
  run: (i: Invocation) => void,
): void {
  const c = parent.command(spec.name).description(spec.summary);
  if (spec.args) c.arguments(spec.args);
  for (const [flags, description] of spec.options ?? []) c.option(flags, description);
  if (spec.json) c.option('--json', 'machine-readable output');
  c.action((...args: unknown[]) => {
    const self = args.at(-1) as Command;
    const g = self.optsWithGlobals() as { config?: string; dataDir?: string; debug?: boolean };
    run({ path, input: inputOf(self), config: g.config, dataDir: g.dataDir, debug: g.debug === true });
  });
}

/** The program: parsing only. `run` receives the invocation of the leaf that matched. */
export function buildProgram(version: string, run: (i: Invocation) => void): Command {
  const program = new Command('entente')
    .description('an AI gateway that runs a partnership agreement as code')
    .version(version, '-V, --version')
    .option('--config <file>', 'the config file (else ENTENTE_CONFIG, ./entente.yaml, the example)')
    .option('--data-dir <dir>', "the data directory (else ENTENTE_DATA_DIR, the config's dataDir)")
    .option('--debug', 'print stack traces of internal errors')
    .addHelpText('after', `\n${EXIT_CODES}\n\nEvery command has --help: entente keys create --help`)
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, outputError: () => undefined });
  for (const spec of COMMANDS) {
    if (!spec.subs) {
      addLeaf(program, spec, [spec.name], run);
      continue;
    }
    const group = program.command(spec.name).description(spec.summary);
    group.addHelpText('after', `\n${EXIT_CODES}`);
    for (const sub of spec.subs) addLeaf(group, sub, [spec.name, sub.name], run);
  }
  return program;
}

export { CommanderError };

/** A bash completion script from the command tree (zsh: `autoload bashcompinit; bashcompinit` first). */
export function completionScript(shell: string): string | null {
  if (shell !== 'bash' && shell !== 'zsh') return null;
  const flagsOf = (s: LeafSpec) =>
    [...(s.options ?? []).map(([f]) => f.split(' ')[0]!), ...(s.json ? ['--json'] : []), '--help'].join(' ');
  const top = COMMANDS.map((c) => c.name).join(' ');
  const second = COMMANDS.map(
    (c) => `    ${c.name}) words="${c.subs ? c.subs.map((s) => s.name).join(' ') : flagsOf(c)}" ;;`,
  ).join('\n');
  const third = COMMANDS.flatMap((c) =>
    (c.subs ?? []).map((s) => `    "${c.name} ${s.name}") words="${flagsOf(s)}" ;;`),
  ).join('\n');
  const head = shell === 'zsh' ? 'autoload -U +X bashcompinit && bashcompinit\n' : '';
  return `${head}# entente completion (${shell}): eval "$(entente completion ${shell})"
_entente() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" words=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    words="${top} --config --data-dir --debug --help --version"
  elif [ "$COMP_CWORD" -eq 2 ]; then
    case "\${COMP_WORDS[1]}" in
${second}
    esac
  else
    case "\${COMP_WORDS[1]} \${COMP_WORDS[2]}" in
${third}
    esac
  fi
  COMPREPLY=( $(compgen -W "$words --config --data-dir" -- "$cur") )
}
complete -F _entente entente
`;
}
