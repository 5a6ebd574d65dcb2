// The admin API under /v1/entente/, behind the admin key (only its SHA-256 is configured):
//   GET  /v1/entente/route?model=M[&tenant=T]        the route decision and why
//   GET  /v1/entente/agreement[?as_of=ISO&known_at=ISO] the version in force
//   GET  /v1/entente/agreement/diff?from=V&to=W      what an amendment changed
//   POST /v1/entente/agreement/validate              validate a proposed agreement file (the body)
//   GET  /v1/entente/rollout                         the rollout log
//   POST /v1/entente/rollout/events                  promote or waive (same rules as the CLI)
//   GET  /v1/entente/ledger/balances                 every account's balance
//   GET  /v1/entente/ledger/statement?period=YYYY-MM[&account=A][&format=csv]
//   POST /v1/entente/ledger/close?period=YYYY-MM     close a period (its statement never changes)
//   POST /v1/entente/ledger/refunds                  {refundId, requestId, amount}: a refund
//   GET  /v1/entente/revenue-share                   accrued, cap, remaining, run-rate, cap date
//   GET  /v1/entente/traffic?window_s=&bucket_s=     requests, tokens, errors over time (console)
//   GET  /v1/entente/requests?limit=&q=              recent requests, where they went and why
//   GET  /v1/entente/rollout/status                  model version × cloud: stage and verdict

import type { IncomingMessage, ServerResponse } from 'node:http';
import { diffVersions, parseAgreementText, versionAsOf } from '../agreements/index.js';
import { ConfigError } from '../config/index.js';
import { gatewayError } from '../errors/index.js';
import {
  type Exchange,
  type Handler,
  presentsKey,
  Router,
  readBody,
  readJsonBody,
  sendError,
  sendJsonBytes,
} from '../http/index.js';
import {
  balances,
  buildStatement,
  formatMicros,
  type PriceBooks,
  parseMajor,
  periodOf,
  postRefund,
  revenueShareStatus,
  statementCsv,
  statementJson,
} from '../ledger/index.js';
import { appendRolloutEvent, newEventSchema } from '../rollout/index.js';
import { explainRoute } from '../routing/index.js';
import { accrualHistory, requestRows, rolloutMatrix, traffic } from './console-data.js';
import type { AdminContext } from './context.js';

/** JSON with bigints (money, ratios) as decimal strings. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
}

/** Admin answers carry ledger and agreement data: never cached, never sniffed. */
const ADMIN_HEADERS = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' } as const;

function send(res: ServerResponse, status: number, value: unknown, requestId: string): void {
  sendJsonBytes(res, status, toJson(value), { 'x-request-id': requestId, ...ADMIN_HEADERS });
}

function instantParam(v: string | null): number | null | 'bad' {
  if (v === null) return null;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? 'bad' : ms;
}

type AdminHandler = (
  c: AdminContext,
  req: IncomingMessage,
  res: ServerResponse,
  ex: Exchange,
) => Promise<void> | void;

/** The admin API's route table, relative to where it is mounted (/v1/entente), behind the admin key. */
export function adminRoutes(c: AdminContext): Router {
  const rows: [method: 'GET' | 'POST', path: string, handler: AdminHandler][] = [
    ['GET', '/route', route],
    ['GET', '/agreement', agreementInForce],
    ['GET', '/agreement/diff', agreementDiff],
    ['POST', '/agreement/validate', agreementValidate],
    ['GET', '/ledger/balances', ledgerBalances],
    ['GET', '/ledger/statement', ledgerStatement],
    ['POST', '/ledger/close', ledgerClose],
    ['POST', '/ledger/refunds', ledgerRefund],
    ['GET', '/revenue-share', revenueShare],
    ['GET', '/traffic', trafficSeries],
    ['GET', '/requests', recentRequests],
    ['GET', '/rollout/status', rolloutStatus],
    ['GET', '/rollout', rolloutLog],
    ['POST', '/rollout/events', rolloutEvent],
  ];
  return new Router(
    rows.map(([method, path, handler]) => ({ method, path, handler: guarded(c, handler) })),
    { notFound: (method, path) => `No admin route for ${method} ${path}.` },
  );
}

/** The admin key first, for every route. */
function guarded(c: AdminContext, handler: AdminHandler): Handler {
  return (req, res, ex) => {
    if (!presentsKey(req.headers, c.config.server.adminKeySha256)) {
      req.resume();
      return sendError(res, gatewayError('admin_unauthorized'), ex.requestId);
    }
    return handler(c, req, res, ex);
  };
}

function badQuery(res: ServerResponse, ex: Exchange, message: string, param: string | null = null): void {
  sendError(res, gatewayError('invalid_request', message, { param }), ex.requestId);
}

function route(c: AdminContext, _req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const model = ex.query.get('model');
  if (!model) return badQuery(res, ex, 'Query parameter model is required.', 'model');
  const tenant = ex.query.get('tenant');
  const licensee = tenant ? (c.licenseeOf.get(tenant) ?? null) : (ex.query.get('licensee') ?? null);
  send(res, 200, explainRoute(c.routes.table, model, licensee), ex.requestId);
}

function noAgreement(res: ServerResponse, ex: Exchange): void {
  sendError(
    res,
    gatewayError('not_found', 'No agreement is configured (config: agreement.file).'),
    ex.requestId,
  );
}

function agreementInForce(c: AdminContext, _req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const agreement = c.routes.agreement;
  if (!agreement) return noAgreement(res, ex);
  const asOf = instantParam(ex.query.get('as_of'));
  const knownAt = instantParam(ex.query.get('known_at'));
  if (asOf === 'bad' || knownAt === 'bad')
    return badQuery(res, ex, 'as_of and known_at must be ISO-8601 instants.');
  const v = versionAsOf(agreement, asOf ?? c.clock.now(), knownAt ?? Number.POSITIVE_INFINITY);
  send(
    res,
    200,
    {
      agreement: agreement.id,
      title: agreement.title,
      parties: agreement.parties,
      versions: agreement.versions.map((x) => ({
        id: x.id,
        kind: x.kind,
        validFrom: new Date(x.validFrom).toISOString(),
        recordedAt: new Date(x.recordedAt).toISOString(),
      })),
      inForce: v,
    },
    ex.requestId,
  );
}

function agreementDiff(c: AdminContext, _req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const agreement = c.routes.agreement;
  if (!agreement) return noAgreement(res, ex);
  const from = agreement.versions.find((v) => v.id === ex.query.get('from'));
  const to = agreement.versions.find((v) => v.id === ex.query.get('to'));
  if (!from || !to)
    return badQuery(
      res,
      ex,
      `from and to must be version ids: ${agreement.versions.map((v) => v.id).join(', ')}`,
    );
  send(res, 200, { from: from.id, to: to.id, changes: diffVersions(from, to) }, ex.requestId);
}

async function agreementValidate(_c: AdminContext, req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  // The same validation as `entente agreement validate`, for a proposed file sent as the body.
  const raw = await readBody(req, 1_048_576);
  if (!Buffer.isBuffer(raw)) return sendError(res, raw, ex.requestId);
  try {
    const a = parseAgreementText(raw.toString('utf8'), ex.query.get('file') ?? 'agreement.yaml');
    return send(res, 200, { valid: true, id: a.id, versions: a.versions.map((v) => v.id) }, ex.requestId);
  } catch (err) {
    if (err instanceof ConfigError)
      return send(res, 422, { valid: false, problems: err.problems }, ex.requestId);
    throw err;
  }
}

/** The price books, or the client has its not_found (metering is off). */
function books(c: AdminContext, res: ServerResponse, ex: Exchange): PriceBooks | null {
  if (c.priceBooks) return c.priceBooks;
  sendError(
    res,
    gatewayError('not_found', 'Metering is off: the config has no ledger section.'),
    ex.requestId,
  );
  return null;
}

async function ledgerBalances(c: AdminContext, _req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const pb = books(c, res, ex);
  if (!pb) return;
  const b = await balances(c.store);
  send(
    res,
    200,
    {
      currency: pb.currency,
      balances: Object.fromEntries([...b].sort().map(([k, v]) => [k, formatMicros(v)])),
    },
    ex.requestId,
  );
}

const PERIOD = /^\d{4}-\d{2}$/;

async function ledgerStatement(c: AdminContext, _req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  if (!books(c, res, ex)) return;
  const period = ex.query.get('period') ?? periodOf(c.clock.now());
  if (!PERIOD.test(period)) return badQuery(res, ex, 'period must be YYYY-MM.', 'period');
  const s = await buildStatement(c.store, period, ex.query.get('account') ?? undefined);
  if (ex.query.get('format') === 'csv') {
    res.setHeader('content-disposition', `attachment; filename="statement-${period}.csv"`);
    return sendJsonBytes(res, 200, statementCsv(s), {
      'x-request-id': ex.requestId,
      'content-type': 'text/csv; charset=utf-8',
      ...ADMIN_HEADERS,
    });
  }
  send(res, 200, statementJson(s), ex.requestId);
}

async function ledgerClose(c: AdminContext, _req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  if (!books(c, res, ex)) return;
  const period = ex.query.get('period') ?? '';
  if (!PERIOD.test(period)) return badQuery(res, ex, 'period must be YYYY-MM.', 'period');
  const newlyClosed = await c.store.closePeriod(period, c.clock.now());
  send(res, 200, { period, closed: true, newlyClosed }, ex.requestId);
}

async function ledgerRefund(c: AdminContext, req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const pb = books(c, res, ex);
  if (!pb) return;
  const body = await readJsonBody(req, 65_536);
  if (!body.ok) return sendError(res, body.error, ex.requestId);
  const { refundId, requestId: refunded, amount } = (body.value ?? {}) as Record<string, unknown>;
  if (typeof refundId !== 'string' || typeof refunded !== 'string' || typeof amount !== 'string')
    return badQuery(res, ex, 'refundId, requestId and amount (a decimal string) are required.');
  let amountMicros: bigint;
  try {
    amountMicros = parseMajor(amount);
  } catch (err) {
    return badQuery(res, ex, (err as Error).message, 'amount');
  }
  const setup = {
    priceBooks: pb,
    agreement: c.routes.agreement,
    owner: c.config.ledger?.owner ?? 'operator',
  };
  const r = await postRefund(
    c.store,
    { refundId, requestId: refunded, amountMicros, atMs: c.clock.now() },
    setup,
  );
  if (!r.ok) {
    // The ledger's outcome, under its catalogue code (the CLI prints the same words).
    const code = REFUND_CODES[r.code];
    return sendError(res, gatewayError(code, r.message), ex.requestId);
  }
  send(
    res,
    r.duplicate ? 200 : 201,
    { refundId, duplicate: r.duplicate, accrualChange: formatMicros(r.accrualChangeMicros) },
    ex.requestId,
  );
}

const REFUND_CODES = {
  unknown_request: 'refund_unknown_request',
  refund_exceeds_revenue: 'refund_exceeds_revenue',
  refund_id_reused: 'refund_id_reused',
  invalid_amount: 'refund_invalid_amount',
} as const;

async function revenueShare(c: AdminContext, _req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const pb = books(c, res, ex);
  if (!pb) return;
  const agreement = c.routes.agreement;
  if (!agreement) return noAgreement(res, ex);
  const shares = await revenueShareStatus(c.store, agreement, pb.currency, c.clock.now());
  if (ex.query.get('history') !== '1') return send(res, 200, { shares }, ex.requestId);
  const rows = await c.store.ledgerRows();
  send(
    res,
    200,
    { shares: shares.map((sh) => ({ ...sh, history: accrualHistory(rows, sh.payee, sh.termId) })) },
    ex.requestId,
  );
}

const MAX_TRAFFIC_RECORDS = 200_000;

async function trafficSeries(c: AdminContext, _req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const windowS = Number(ex.query.get('window_s') ?? 3600);
  const bucketS = Number(ex.query.get('bucket_s') ?? 60);
  if (
    !Number.isInteger(windowS) ||
    windowS < 60 ||
    windowS > 31 * 86_400 ||
    !Number.isInteger(bucketS) ||
    bucketS < 1 ||
    windowS / bucketS > 2000
  )
    return badQuery(res, ex, 'window_s must be 60..2678400 and bucket_s at least window_s/2000.', 'window_s');
  await c.usageLog.flush();
  const toMs = Math.ceil(c.clock.now() / (bucketS * 1000)) * bucketS * 1000;
  const fromMs = toMs - windowS * 1000;
  const records = await c.store.listUsage({ sinceMs: fromMs, limit: MAX_TRAFFIC_RECORDS });
  send(res, 200, traffic(records, fromMs, toMs, bucketS * 1000, c.config.routing.primaryCloud), ex.requestId);
}

async function recentRequests(c: AdminContext, _req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const limit = Math.min(1000, Math.max(1, Number(ex.query.get('limit') ?? 200) || 200));
  await c.usageLog.flush();
  const needle = (ex.query.get('q') ?? '').toLowerCase();
  const rows = requestRows(
    await c.store.listUsage({ limit: needle ? 5000 : limit }),
    c.config.routing.primaryCloud,
  ).filter(
    (r) =>
      !needle ||
      [r.requestId, r.model, r.cloud, r.tenant, r.errorCode, r.deployment, String(r.status)].some((f) =>
        (f ?? '').toLowerCase().includes(needle),
      ),
  );
  send(res, 200, { requests: rows.slice(0, limit) }, ex.requestId);
}

function rolloutStatus(c: AdminContext, _req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const agreement = c.routes.agreement;
  const now = c.clock.now();
  const term = agreement ? (versionAsOf(agreement, now)?.terms.cloud ?? null) : null;
  send(res, 200, rolloutMatrix(c.catalog, c.routes.log, term, now), ex.requestId);
}

function rolloutLog(c: AdminContext, _req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  send(res, 200, { events: c.routes.log }, ex.requestId);
}

async function rolloutEvent(c: AdminContext, req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const body = await readJsonBody(req, 65_536);
  if (!body.ok) return sendError(res, body.error, ex.requestId);
  // The server decides the time: a client-sent atMs is overwritten.
  const parsed = newEventSchema.safeParse({ ...(body.value as object), atMs: c.clock.now() });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return badQuery(res, ex, `${issue.path.join('.')}: ${issue.message}`, issue.path.join('.'));
  }
  const r = await appendRolloutEvent(c.store, c.routes.agreement, parsed.data);
  if (!r.ok) return sendError(res, gatewayError(r.code, r.reason, { status: 409 }), ex.requestId);
  await c.routes.refreshLog('rollout event via admin API');
  send(res, 201, { seq: r.seq }, ex.requestId);
}
