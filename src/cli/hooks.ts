// What the CLI can be given by the program that runs it. The simulators live outside src/ (they
// are test and demo equipment, not the product); the `entente` program (bin/entente.js) hands
// their starter in, so `entente serve` can start the simulated clouds a config names and
// `entente sim` can run one. Without the hook, both say that simulators are not installed.
export type SimulatorKind = 'openai' | 'azure-openai' | 'bedrock' | 'google' | 'anthropic';

export interface SimulatorStartOptions {
  readonly kind: SimulatorKind;
  readonly id?: string;
  readonly cloud?: string;
  readonly port?: number;
  readonly latencyMs?: number;
  readonly tokensPerSecond?: number;
}

export interface RunningSimulator {
  readonly url: string;
  close(): Promise<void>;
}

export interface CliHooks {
  readonly startSimulator?: (opts: SimulatorStartOptions) => Promise<RunningSimulator>;
}
