export type { AppendOptions, AppendResult } from './rollout-log.js';
export { appendRolloutEvent, newEventSchema, readRolloutLog } from './rollout-log.js';
export type {
  DeclarationEvent,
  Gate,
  NewRolloutEvent,
  RolloutEvent,
  RolloutRefusal,
  Stage,
  StageEvent,
  WaiverEvent,
} from './rollout-rules.js';
export { checkEvent, declarationsIn, gateFor, stages, stagesNow } from './rollout-rules.js';
