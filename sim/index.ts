export { startAnthropicSimulator } from './anthropic-sim.js';
export { startBedrockSimulator } from './bedrock-sim.js';
export type { CloudSimulator } from './cloud-sim.js';
export { startGoogleSimulator } from './google-sim.js';
export type {
  Fault,
  FaultKind,
  RecordedRequest,
  SimKind,
  SimOptions,
  SimSettings,
  Simulator,
} from './openai-family-sim.js';
export { startSimulator } from './openai-family-sim.js';
export { countWords, promptTokens, SIM_EMBEDDING_DIMS, scriptReply, simEmbedding } from './script-reply.js';

import { startAnthropicSimulator } from './anthropic-sim.js';
import { startBedrockSimulator } from './bedrock-sim.js';
import type { CloudSimulator } from './cloud-sim.js';
import { startGoogleSimulator } from './google-sim.js';
import { startSimulator } from './openai-family-sim.js';

export type AnySimKind = 'openai' | 'azure-openai' | 'bedrock' | 'google' | 'anthropic';

/** Starts the simulator of any cloud; `url` is its origin, `close` stops it. */
export function startAnySimulator(opts: {
  kind: AnySimKind;
  id?: string;
  cloud?: string;
  port?: number;
  latencyMs?: number;
  tokensPerSecond?: number;
}): Promise<{ url: string; close(): Promise<void> } | CloudSimulator> {
  const { kind, ...rest } = opts;
  if (kind === 'openai' || kind === 'azure-openai') return startSimulator({ kind, ...rest });
  if (kind === 'bedrock') return startBedrockSimulator(rest);
  if (kind === 'google') return startGoogleSimulator(rest);
  return startAnthropicSimulator(rest);
}
