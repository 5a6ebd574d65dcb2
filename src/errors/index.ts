export type { ErrorCode, ErrorSpec, GatewayError } from './catalogue.js';
export { errorBody, errorCatalogue, errorStatus, gatewayError } from './catalogue.js';
export type { OperatorErrorCode, OperatorErrorSpec } from './entente-error.js';
export { EntenteError, isEntenteError, operatorErrors } from './entente-error.js';
