export type { Logger, LogLevel } from './logger.js';
export { bufferedStdout, createLogger, isoTimestamp, LineBlocks, silentLogger } from './logger.js';
export type { GatewayMetrics } from './metrics.js';
export {
  Counter,
  CounterCell,
  createGatewayMetrics,
  Histogram,
  HistogramSeries,
  Registry,
  RouteSeriesCache,
  renderGauge,
} from './metrics.js';
export type { OtlpOptions, Span, SpanKind, Tracer } from './tracing.js';
export { createOtlpTracer, noopTracer, parseTraceparent } from './tracing.js';
