export type { Fit, Forecast, SeriesPoint } from './forecast.js';
export { backtest, breakEven, fit, forecast, hourly, predict } from './forecast.js';
export type { Pool, Routable } from './pools.js';
export { CapacityPlan, orderForCapacity } from './pools.js';
export type { CatalogView } from './report.js';
export { capacityReport, catalogView } from './report.js';
