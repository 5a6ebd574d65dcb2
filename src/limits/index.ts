export { embeddingTokensBound, outputTokensBound, promptTokensBound } from './estimate.js';
export type {
  Actual,
  BudgetAlert,
  Headroom,
  Hold,
  Limiter,
  LimitKind,
  ReserveAsk,
  Verdict,
} from './limiter.js';
export { crossed, formatReset, WINDOW_MS } from './limiter.js';
export { LocalLimiter } from './local-limiter.js';
export type { BudgetDrift, ReconcilePass } from './reconcile.js';
export { BudgetReconciler, SpendIndex } from './reconcile.js';
export { RedisLimiter, type RedisLimiterOptions } from './redis-limiter.js';
export type { BudgetPeriod, KeyLimits, LimitRule, LimitsConfig } from './rules.js';
export { keyBase, LimitSet, periodAt } from './rules.js';
