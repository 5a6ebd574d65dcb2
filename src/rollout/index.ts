export type { AppendResult } from './rollout-log.js';
export { appendRolloutEvent, newEventSchema, readRolloutLog } from './rollout-log.js';
export type {
  Gate,
  NewRolloutEvent,
  RolloutEvent,
  RolloutRefusal,
  Stage,
  StageEvent,
  WaiverEvent,
} from './rollout-rules.js';
export { checkEvent, gateFor, stages, stagesNow } from './rollout-rules.js';
