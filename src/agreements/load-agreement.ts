// Loads an agreement file: YAML → zod shape → semantic validation. Every problem is located.
import { ConfigError, parseYaml, readSourceFile, zodProblems } from '../config/index.js';
import { type Agreement, agreementSchema } from './schema.js';
import { crossCheckAgreement, crossCheckPools, validateAgreement } from './validate-agreement.js';

export interface AgreementChecks {
  /** The clouds of the configuration's upstreams: the agreement's clouds must be among them. */
  readonly clouds?: ReadonlySet<string>;
  /** The configuration's capacity pools: the programmes' pools must be among them. */
  readonly pools?: ReadonlySet<string>;
}

export function parseAgreementText(text: string, file: string, checks: AgreementChecks = {}): Agreement {
  const source = parseYaml(text, file);
  const result = agreementSchema.safeParse(source.value);
  if (!result.success) throw new ConfigError(zodProblems(source, result.error));
  const findings = validateAgreement(result.data);
  if (checks.clouds) findings.push(...crossCheckAgreement(result.data, checks.clouds));
  // A gateway that runs no pools does not judge the programmes' (they may be run elsewhere).
  if (checks.pools && checks.pools.size > 0) findings.push(...crossCheckPools(result.data, checks.pools));
  if (findings.length > 0)
    throw new ConfigError(findings.map((f) => source.problem(f.path, f.message, f.code)));
  return result.data;
}

export function loadAgreement(path: string, checks: AgreementChecks = {}): Agreement {
  const { file, text } = readSourceFile(path, 'agreement');
  return parseAgreementText(text, file, checks);
}
