// Errors outside HTTP: start-up, configuration, the CLI, credentials, provider wire formats and
// the ledger's own checks. Each has a stable code (printed as `entente: [code] message` by the
// CLI, logged as `code` by the server) and a summary that teaches the fix. docs/errors.md lists
// them beside the HTTP catalogue; test/errors-doc.test.ts keeps the two in step.

export interface OperatorErrorSpec {
  /** The process exit status the CLI uses for it: 1 = the setup is wrong, 2 = the command line is. */
  readonly exitCode: 1 | 2;
  readonly summary: string;
}

export const operatorErrors = {
  config_invalid: {
    exitCode: 1,
    summary: 'A config, agreement or price-book file fails validation; each problem names file:line:column.',
  },
  config_unreadable: {
    exitCode: 1,
    summary: 'A file the config names cannot be read or parsed. Check the path and its permissions.',
  },
  env_missing: {
    exitCode: 1,
    summary:
      'An environment variable the config names (a key or a secret) is not set. Set it, or change the config.',
  },
  port_in_use: {
    exitCode: 1,
    summary:
      'The port Entente (or a simulator it starts) should listen on is taken. The message names the setting that moves it.',
  },
  no_database: {
    exitCode: 1,
    summary:
      'The data directory holds no Entente database. Run the command where the gateway runs, or pass --data-dir.',
  },
  simulator_not_running: {
    exitCode: 1,
    summary: 'An upstream says sim://ID but no simulator with that id was started. Add it to `simulators`.',
  },
  credentials_invalid: {
    exitCode: 1,
    summary: 'A credentials file (a Google service-account key) is not of the expected shape.',
  },
  token_refresh_failed: {
    exitCode: 1,
    summary: "A token endpoint refused to issue an access token; the upstream's requests fail until it does.",
  },
  price_books_disagree: {
    exitCode: 1,
    summary: "The agreement's caps and the price books use different currencies. Make them agree.",
  },
  seed_rollout_refused: {
    exitCode: 1,
    summary:
      'A seed rollout event in the config breaks the first-deployment rule. Fix its order or add a waiver.',
  },
  invalid_amount: {
    exitCode: 2,
    summary: 'An amount is not a decimal with at most 6 decimals (e.g. 12.50).',
  },
  cli_usage: {
    exitCode: 2,
    summary: 'The command line is wrong (unknown command, flag or value). `entente help` lists the commands.',
  },
  event_stream_corrupt: {
    exitCode: 1,
    summary: 'An AWS binary event-stream message failed its checksum or framing; the stream is dropped.',
  },
  usage_log_unwritten: {
    exitCode: 1,
    summary: 'At shutdown some usage records could not be stored before the deadline. Check the database.',
  },
  spool_locked: {
    exitCode: 1,
    summary: 'Another running gateway uses this usage spool folder. Give each node its own data folder.',
  },
  ledger_invariant_violated: {
    exitCode: 1,
    summary:
      'A ledger transaction would not balance or would break 0 ≤ accrued ≤ cap; nothing was committed.',
  },
} as const satisfies Record<string, OperatorErrorSpec>;

export type OperatorErrorCode = keyof typeof operatorErrors;

/** A coded error for everything that is not an HTTP answer. */
export class EntenteError extends Error {
  /** The CLI's exit status: the code's own, unless the thrower knows better. */
  readonly exitCode: 1 | 2;

  constructor(
    readonly code: OperatorErrorCode,
    message?: string,
    options: { readonly cause?: unknown; readonly exitCode?: 1 | 2 } = {},
  ) {
    super(
      message ?? operatorErrors[code].summary,
      options.cause === undefined ? {} : { cause: options.cause },
    );
    this.name = 'EntenteError';
    this.exitCode = options.exitCode ?? operatorErrors[code].exitCode;
  }
}

export function isEntenteError(err: unknown): err is EntenteError {
  return err instanceof EntenteError;
}
