export type { ConfigOverrides, ConfigProblem, LoadedConfig } from './load-config.js';
export { ConfigError, loadConfig, parseConfigText } from './load-config.js';
export { configReference, type FieldRef, renderConfigReference } from './reference.js';
export type {
  BudgetPeriod,
  CapacityConfig,
  Config,
  DeploymentConfig,
  KeyLimits,
  LimitAmounts,
  LimitsConfig,
  ModelConfig,
  PoolConfig,
  SimulatorConfig,
  TenantConfig,
  UpstreamConfig,
} from './schema.js';
export { configSchema, keyLimitsSchema, limitsSchema } from './schema.js';
export type { DocPath, YamlSource } from './yaml-document.js';
export { formatPath, parseYaml, readSourceFile, zodProblems } from './yaml-document.js';
