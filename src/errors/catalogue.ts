// The error catalogue: every error Entente returns has a stable code, an HTTP status, an
// OpenAI-compatible `type`, whether a retry can help, and a message that teaches the fix.
// docs/errors.md is kept in step with this table by test/errors-doc.test.ts.

export interface ErrorSpec {
  readonly status: number;
  /** The OpenAI `error.type` clients already switch on. */
  readonly type:
    | 'invalid_request_error'
    | 'authentication_error'
    | 'permission_error'
    | 'not_found_error'
    | 'rate_limit_error'
    | 'server_error'
    | 'api_error';
  readonly retryable: boolean;
  readonly summary: string;
}

export const errorCatalogue = {
  invalid_json: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    summary: 'The request body is not valid JSON. Send a JSON object with content-type application/json.',
  },
  invalid_request: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    summary: 'A field of the request has the wrong type or value; `param` names it.',
  },
  body_too_large: {
    status: 413,
    type: 'invalid_request_error',
    retryable: false,
    summary: 'The request body exceeds server.bodyLimitBytes. Send a smaller body or raise the limit.',
  },
  headers_too_large: {
    status: 431,
    type: 'invalid_request_error',
    retryable: false,
    summary: 'The request headers exceed server.headerLimitBytes.',
  },
  not_found: {
    status: 404,
    type: 'not_found_error',
    retryable: false,
    summary: 'No such route. Entente serves the OpenAI API under /v1.',
  },
  method_not_allowed: {
    status: 405,
    type: 'invalid_request_error',
    retryable: false,
    summary: 'This route does not accept that HTTP method.',
  },
  missing_api_key: {
    status: 401,
    type: 'authentication_error',
    retryable: false,
    summary: 'No API key. Send `Authorization: Bearer <key>` (or `api-key: <key>`).',
  },
  invalid_api_key: {
    status: 401,
    type: 'authentication_error',
    retryable: false,
    summary: 'The API key is not known to this gateway, or it was revoked.',
  },
  model_not_found: {
    status: 404,
    type: 'invalid_request_error',
    retryable: false,
    summary: 'The model is not in the catalog. GET /v1/models lists the models your key may call.',
  },
  model_not_allowed: {
    status: 403,
    type: 'permission_error',
    retryable: false,
    summary: "The model exists but this API key may not call it. Ask an admin to add it to the key's models.",
  },
  not_licensed: {
    status: 403,
    type: 'permission_error',
    retryable: false,
    summary: "The agreement in force grants this key's licensee no licence to the model.",
  },
  licence_expired: {
    status: 403,
    type: 'permission_error',
    retryable: false,
    summary:
      "The licensee's licence to the model ended; the message names the grant and the agreement version.",
  },
  licence_not_yet_active: {
    status: 403,
    type: 'permission_error',
    retryable: false,
    summary: "The licensee's licence to the model has not started yet.",
  },
  product_not_licensed: {
    status: 403,
    type: 'permission_error',
    retryable: false,
    summary:
      "A products grant of the agreement names this API surface, and none is active for the key's licensee; the message names the grant.",
  },
  no_agreement_in_force: {
    status: 403,
    type: 'permission_error',
    retryable: false,
    summary: 'No version of the agreement is in force at this instant, so no licence or cloud term applies.',
  },
  not_yet_deployed_on_primary: {
    status: 403,
    type: 'permission_error',
    retryable: false,
    summary:
      'First-deployment rule: this model version is not GA on the primary cloud yet, and no waiver was recorded.',
  },
  soak_not_elapsed: {
    status: 403,
    type: 'permission_error',
    retryable: true,
    summary:
      'The model version is GA on the primary cloud, but the soak time before other clouds has not elapsed.',
  },
  cloud_not_permitted: {
    status: 403,
    type: 'permission_error',
    retryable: false,
    summary: "The agreement in force does not permit serving on this model's clouds.",
  },
  waiver_incomplete: {
    status: 403,
    type: 'permission_error',
    retryable: false,
    summary:
      'A waiver was recorded without what the agreement requires (primary cannot support, partner declined).',
  },
  retired: {
    status: 403,
    type: 'permission_error',
    retryable: false,
    summary: 'The model version was retired on every cloud that could serve it.',
  },
  model_unpriced: {
    // A 500, not a 403: the client did nothing wrong (the openai SDK raised PermissionDeniedError,
    // sending operators to look for a permission that does not exist). x-should-retry is false.
    status: 500,
    type: 'server_error',
    retryable: false,
    summary:
      "The gateway's configuration, not the request, is at fault: no price book prices this model version and ledger.unpriced is refuse, so Entente fails closed rather than serve unbilled. An operator adds the price (entente prices show lists what is unpriced).",
  },
  admin_unauthorized: {
    status: 401,
    type: 'authentication_error',
    retryable: false,
    summary:
      'The admin API needs `Authorization: Bearer <admin key>`; set server.adminKeySha256 to enable it.',
  },
  all_deployments_cooling_down: {
    status: 503,
    type: 'server_error',
    retryable: true,
    summary:
      'Every deployment of this model failed recently and is cooling down; retry after the retry-after header.',
  },
  rate_limited: {
    status: 429,
    type: 'rate_limit_error',
    retryable: true,
    summary:
      'A rate limit of this key, tenant or model is reached (requests or tokens per minute, or requests in flight); the message names the rule, and retry-after says when there is room.',
  },
  budget_exceeded: {
    status: 429,
    type: 'rate_limit_error',
    retryable: false,
    summary:
      "The budget of this key, tenant or model for the period would be passed by this request's worst case; the message names the rule and when the period ends. Raise the budget or wait for the next period.",
  },
  limits_unavailable: {
    status: 503,
    type: 'server_error',
    retryable: true,
    summary:
      'Limits govern this request and their shared counters (Redis) cannot be reached; limits.onRedisDown is fail-closed, so nothing is admitted past them. Retry shortly, or set onRedisDown: local-share.',
  },
  capacity_exhausted: {
    status: 429,
    type: 'rate_limit_error',
    retryable: true,
    summary:
      'Every deployment this request may use is in a capacity pool that is full (to its target utilization), and no pay-as-you-go deployment is left; retry after the retry-after header, or add a spill-over deployment.',
  },
  upstream_rate_limited: {
    status: 429,
    type: 'rate_limit_error',
    retryable: true,
    summary: 'Every deployment of this model is rate limited upstream; retry after the retry-after header.',
  },
  upstream_error: {
    status: 502,
    type: 'server_error',
    retryable: true,
    summary:
      'Every deployment that was tried failed (connect error, timeout or 5xx); the message lists the attempts.',
  },
  upstream_timeout: {
    status: 504,
    type: 'server_error',
    retryable: true,
    summary:
      "The upstream did not answer in time: the upstream's connectTimeoutMs, headersTimeoutMs, firstByteTimeoutMs or bodyIdleTimeoutMs, or routing.budgetMs across attempts.",
  },
  upstream_stream_error: {
    status: 502,
    type: 'server_error',
    retryable: true,
    summary: 'The upstream stream broke after the first byte reached the client, so it could not fail over.',
  },
  stream_duration_exceeded: {
    status: 504,
    type: 'server_error',
    retryable: false,
    summary: 'The stream ran longer than server.streamMaxDurationMs and was ended by the gateway.',
  },
  unsupported_parameter: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    summary:
      'No deployment of this model is on a provider that can honour a parameter of the request; `param` names it. Remove or change it.',
  },
  upstream_client_error: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    summary:
      "The upstream refused the request as invalid; its message is passed on. Fix the request, don't retry.",
  },
  declaration_exists: {
    status: 409,
    type: 'invalid_request_error',
    retryable: false,
    summary:
      'An AGI declaration was already entered; it is entered once, and the audit log shows who entered it.',
  },
  refund_unknown_request: {
    status: 404,
    type: 'not_found_error',
    retryable: false,
    summary: 'No usage record has that request id. Refunds name the x-request-id of a served request.',
  },
  refund_exceeds_revenue: {
    status: 409,
    type: 'invalid_request_error',
    retryable: false,
    summary: "The refund is larger than what is left of the request's revenue after earlier refunds.",
  },
  refund_id_reused: {
    status: 409,
    type: 'invalid_request_error',
    retryable: false,
    summary: 'That refund id was used for a different refund. Reuse an id only to repeat the same refund.',
  },
  refund_invalid_amount: {
    status: 400,
    type: 'invalid_request_error',
    retryable: false,
    summary: 'A refund amount is a positive decimal with at most 6 decimals.',
  },
  usage_backlog_full: {
    status: 503,
    type: 'server_error',
    retryable: true,
    summary:
      'Usage records are being spooled faster than the database stores them (usage.maxBacklogRecords); new requests are refused rather than left unrecorded. Retry shortly.',
  },
  too_many_connections: {
    status: 503,
    type: 'server_error',
    retryable: true,
    summary:
      'The gateway holds as many connections as server.maxConnections (or, from this address, server.maxConnectionsPerClient) allows; reuse a connection or retry later.',
  },
  shutting_down: {
    status: 503,
    type: 'server_error',
    retryable: true,
    summary: 'This gateway node is draining for shutdown; retry on another node.',
  },
  internal_error: {
    status: 500,
    type: 'server_error',
    retryable: true,
    summary: 'A bug in Entente. The request id in x-request-id finds it in the logs.',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof errorCatalogue;

/** A business outcome that ends a request with a coded error, returned rather than thrown. */
export interface GatewayError {
  readonly code: ErrorCode;
  readonly message: string;
  readonly param?: string | null;
  /** Seconds, for retryable outcomes where the gateway knows when a retry can succeed. */
  readonly retryAfterS?: number;
  /** Overrides the catalogue status where an upstream's status is passed on (e.g. 400 vs 422). */
  readonly status?: number;
}

export function gatewayError(
  code: ErrorCode,
  message?: string,
  extra: Partial<GatewayError> = {},
): GatewayError {
  return { code, message: message ?? errorCatalogue[code].summary, ...extra };
}

/**
 * The OpenAI error body clients already parse; the one place it is built. `wireCode` replaces the
 * code when an upstream's own code is what clients switch on (Azure's `content_filter`).
 */
export function errorBody(err: GatewayError, wireCode?: string): string {
  const spec = errorCatalogue[err.code];
  return JSON.stringify({
    error: { message: err.message, type: spec.type, param: err.param ?? null, code: wireCode ?? err.code },
  });
}

export function errorStatus(err: GatewayError): number {
  return err.status ?? errorCatalogue[err.code].status;
}
