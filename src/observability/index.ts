export type { Logger, LogLevel } from './logger.js';
export { createLogger, silentLogger } from './logger.js';
export type { GatewayMetrics } from './metrics.js';
export { Counter, createGatewayMetrics, Histogram, Registry, renderGauge } from './metrics.js';
