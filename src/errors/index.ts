export type { ErrorCode, ErrorSpec, GatewayError } from './catalogue.js';
export { errorBody, errorCatalogue, errorStatus, gatewayError } from './catalogue.js';
