export type { ConfigOverrides, ConfigProblem, LoadedConfig } from './load-config.js';
export { ConfigError, loadConfig, parseConfigText } from './load-config.js';
export type {
  Config,
  DeploymentConfig,
  ModelConfig,
  SimulatorConfig,
  TenantConfig,
  UpstreamConfig,
} from './schema.js';
export { configSchema } from './schema.js';
export type { DocPath, YamlSource } from './yaml-document.js';
export { formatPath, parseYaml, readSourceFile, zodProblems } from './yaml-document.js';
