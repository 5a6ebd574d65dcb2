export type { LicenceDecision } from './as-of.js';
export { boundaries, decideLicence, versionAsOf } from './as-of.js';
export type { Change } from './diff-versions.js';
export { diffVersions, formatChanges } from './diff-versions.js';
export { loadAgreement, parseAgreementText } from './load-agreement.js';
export type {
  Agreement,
  AgreementVersion,
  CloudTerm,
  Licence,
  Ratio,
  RevenueShare,
  Terms,
} from './schema.js';
export { agreementSchema } from './schema.js';
export { globMatches, selects } from './select-models.js';
export type { Finding } from './validate-agreement.js';
export { validateAgreement } from './validate-agreement.js';
