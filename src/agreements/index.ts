export type { Declaration, LicenceDecision } from './as-of.js';
export { boundaries, decideLicence, versionAsOf } from './as-of.js';
export type { EffectiveCloudTerm, ModelFacts, SaleFacts } from './coverage.js';
export {
  baseMatches,
  describeBase,
  describeScope,
  effectiveCloudTerm,
  exemptionFor,
  inScope,
} from './coverage.js';
export type { Change } from './diff-versions.js';
export { diffVersions, formatChanges } from './diff-versions.js';
export type { AgreementChecks } from './load-agreement.js';
export { loadAgreement, parseAgreementText } from './load-agreement.js';
export type {
  Agreement,
  AgreementVersion,
  CarveOut,
  CloudTerm,
  Condition,
  Exemption,
  Licence,
  Ratio,
  RevenueBase,
  RevenueShare,
  Scope,
  Surface,
  Terms,
} from './schema.js';
export { agreementSchema, EXEMPTIONS, SURFACES } from './schema.js';
export { globMatches, selects } from './select-models.js';
export type { Finding } from './validate-agreement.js';
export { crossCheckAgreement, validateAgreement } from './validate-agreement.js';
