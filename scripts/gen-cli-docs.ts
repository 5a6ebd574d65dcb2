// `npm run docs:cli`: docs/cli.md, every command's --help as the program prints it, from the same
// command tree (src/cli/program.ts). test/cli.test.ts fails when the file is stale.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { buildProgram, COMMANDS, EXIT_CODES } from '../src/cli/program.js';

const ROOT = join(import.meta.dirname, '..', '..');

export function renderCliDoc(): string {
  const program = buildProgram('', () => undefined);
  const help = (c: Command) => c.configureHelp({ helpWidth: 100 }).helpInformation().trimEnd();
  const parts = [
    '# The `entente` command',
    '',
    'Generated from the command tree (`src/cli/program.ts`) by `npm run docs:cli`: each section is',
    "that command's `--help`. A test fails when this file and the program differ.",
    '',
    'The config file is found in one order: `--config FILE`, then `ENTENTE_CONFIG`, then',
    '`./entente.yaml` in the working directory, then the shipped example; the data directory:',
    "`--data-dir DIR`, then `ENTENTE_DATA_DIR`, then the config's `dataDir` (relative to the working",
    'directory), or PostgreSQL when `DATABASE_URL` is set. Every command says on stderr which it',
    'used; a command that only reads refuses a data directory with no database (`no_database`)',
    'rather than create an empty one. Errors are one line, `entente: [code] message`; a stack trace',
    'only with `--debug`. Shell completion: `eval "$(entente completion bash)"` (or `zsh`).',
    '',
    '```',
    EXIT_CODES,
    '```',
    '',
    '## entente',
    '',
    '```',
    help(program),
    '```',
  ];
  for (const spec of COMMANDS) {
    const c = program.commands.find((x) => x.name() === spec.name)!;
    for (const [title, cmd] of [
      [`entente ${spec.name}`, c] as const,
      ...(spec.subs ?? []).map(
        (s) => [`entente ${spec.name} ${s.name}`, c.commands.find((x) => x.name() === s.name)!] as const,
      ),
    ])
      parts.push('', `## ${title}`, '', '```', help(cmd), '```');
  }
  return `${parts.join('\n')}\n`;
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  writeFileSync(join(ROOT, 'docs/cli.md'), renderCliDoc());
  process.stdout.write('docs/cli.md written\n');
}
