// What a command receives: the command line as commander parsed it against the command tree
// (program.ts), so that each option is declared, checked and documented in one place.

export interface CliInput {
  /** Options that take a value, by their long name (`as-of`). */
  readonly values: Readonly<Record<string, string | undefined>>;
  /** Options that are set or not (`json`, `clear`), by their long name. */
  readonly flags: ReadonlySet<string>;
  /** The leaf's arguments, in order (a fresh array: a command may consume it). */
  readonly positionals: string[];
}

/** A mistake on the command line or a refusal: `entente: [cli_usage] …` with its exit status. */
export type Fail = (message: string, exitCode?: 1 | 2) => never;
