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
export { countWords, promptTokens, scriptReply } from './script-reply.js';
