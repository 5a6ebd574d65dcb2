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
//   POST /v1/entente/rollout/import                  {source, events[{…, occurredAt}]}: past events, audited
//   POST /v1/entente/declarations                    {declaration: agi-verified, panelRecordRef}
//   GET  /v1/entente/audit?limit=&action=&subject=   the audit log, newest first
//   GET  /v1/entente/prices[?asOf=ISO]               each model version's resolved price and its book
//   GET  /v1/entente/health                          each deployment's breaker state, recent transitions
//   GET  /v1/entente/nodes                           the fleet's nodes: version, config hash, heartbeat, in flight
//   GET|POST /v1/entente/keys, POST …/keys/rotate/:id, …/keys/revoke/:id   API keys, live
//   POST /v1/entente/keys/limits/:id, GET /v1/entente/limits       limits, and what remains
//   GET  /v1/entente/spend?window=1h|24h|7d|30d&top=N             booked spend: total, largest tenants, keys, models, clouds
//   GET  /v1/entente/capacity                                      pools: utilization, spill-over, price, forecast

import type { IncomingMessage, ServerResponse } from 'node:http';
import { diffVersions, parseAgreementText, versionAsOf } from '../agreements/index.js';
import { adminActor, auditor } from '../audit/index.js';
import { capacityReport, catalogView } from '../capacity/index.js';
import { ConfigError } from '../config/index.js';
import { type ErrorCode, gatewayError } from '../errors/index.js';
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
  ledgerSetupFor,
  type PriceBooks,
  parseMajor,
  periodOf,
  postRefund,
  resolvedPrices,
  revenueShareStatus,
  statementCsv,
  statementJson,
} from '../ledger/index.js';
import {
  appendRolloutEvent,
  declarationsIn,
  type NewRolloutEvent,
  newEventSchema,
} from '../rollout/index.js';
import { compileRouteTable, explainRoute } from '../routing/index.js';
import type { UsageRecord } from '../store/index.js';
import { accrualHistory, requestRows, rolloutMatrix, traffic } from './console-data.js';
import type { AdminContext } from './context.js';
import { createKey, listKeys, revokeKey, rotateKey, setKeyLimits } from './keys-api.js';
import { listLimits, spend } from './limits-api.js';
import { refuse } from './query.js';

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
    ['POST', '/rollout/import', rolloutImport],
    ['POST', '/declarations', declaration],
    ['GET', '/audit', auditLog],
    ['GET', '/prices', prices],
    ['GET', '/health', deploymentHealth],
    ['GET', '/nodes', nodes],
    ['GET', '/keys', listKeys],
    ['POST', '/keys', createKey],
    ['POST', '/keys/rotate/:id', rotateKey],
    ['POST', '/keys/revoke/:id', revokeKey],
    ['POST', '/keys/limits/:id', setKeyLimits],
    ['GET', '/limits', listLimits],
    ['GET', '/spend', spend],
    ['GET', '/capacity', capacity],
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

function route(c: AdminContext, _req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const model = ex.query.get('model');
  if (!model) return refuse(res, ex, 'Query parameter model is required.', 'model');
  const tenant = ex.query.get('tenant');
  const licensee = tenant ? (c.licenseeOf.get(tenant) ?? null) : (ex.query.get('licensee') ?? null);
  // ?at=: the decision as it was then (the agreement version and rollout log in force at that instant).
  const at = ex.query.get('at');
  const atMs = at === null ? null : Date.parse(at);
  if (atMs !== null && Number.isNaN(atMs)) return refuse(res, ex, 'at must be an ISO-8601 instant.', 'at');
  const table =
    atMs === null
      ? c.routes.table
      : compileRouteTable(c.catalog, c.routes.agreement, c.routes.log, atMs, licensee ? [licensee] : []);
  send(
    res,
    200,
    { ...explainRoute(table, model, licensee, tenant), at: new Date(atMs ?? c.clock.now()).toISOString() },
    ex.requestId,
  );
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
    return refuse(res, ex, 'as_of and known_at must be ISO-8601 instants.');
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
    return refuse(
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
  if (!PERIOD.test(period)) return refuse(res, ex, 'period must be YYYY-MM.', 'period');
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
  if (!PERIOD.test(period)) return refuse(res, ex, 'period must be YYYY-MM.', 'period');
  const newlyClosed = await c.store.closePeriod(period, c.clock.now());
  if (newlyClosed) await audit(c).record('period.close', period, { period });
  send(res, 200, { period, closed: true, newlyClosed }, ex.requestId);
}

async function ledgerRefund(c: AdminContext, req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const pb = books(c, res, ex);
  if (!pb) return;
  const body = await readJsonBody(req, 65_536);
  if (!body.ok) return sendError(res, body.error, ex.requestId);
  const { refundId, requestId: refunded, amount } = (body.value ?? {}) as Record<string, unknown>;
  if (typeof refundId !== 'string' || typeof refunded !== 'string' || typeof amount !== 'string')
    return refuse(res, ex, 'refundId, requestId and amount (a decimal string) are required.');
  let amountMicros: bigint;
  try {
    amountMicros = parseMajor(amount);
  } catch (err) {
    return refuse(res, ex, (err as Error).message, 'amount');
  }
  const setup = ledgerSetupFor(c.config, pb, c.routes.agreement, declarationsIn(c.routes.log));
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
  if (!r.duplicate)
    await audit(c).record('refund', refunded, {
      refundId,
      amount,
      accrualChange: formatMicros(r.accrualChangeMicros),
    });
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

const TRAFFIC_WINDOWS: Record<string, [windowS: number, bucketS: number]> = {
  '1h': [3_600, 60],
  '24h': [86_400, 900],
  '7d': [7 * 86_400, 3_600],
  '30d': [30 * 86_400, 6 * 3_600],
};

/**
 * GET /v1/entente/traffic?window=1h|24h|7d|30d (or window_s & bucket_s, the bucket a whole number
 * of minutes): the fleet's traffic from the store's per-minute roll-ups.
 */
async function trafficSeries(c: AdminContext, _req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const named = ex.query.get('window');
  if (named !== null && !TRAFFIC_WINDOWS[named])
    return refuse(res, ex, `window must be one of ${Object.keys(TRAFFIC_WINDOWS).join(', ')}.`, 'window');
  const [windowS, bucketS] = named
    ? TRAFFIC_WINDOWS[named]!
    : [Number(ex.query.get('window_s') ?? 3600), Number(ex.query.get('bucket_s') ?? 60)];
  if (
    !Number.isInteger(windowS) ||
    windowS < 60 ||
    windowS > 31 * 86_400 ||
    !Number.isInteger(bucketS) ||
    bucketS < 60 ||
    bucketS % 60 !== 0 ||
    windowS / bucketS > 2000
  )
    return refuse(
      res,
      ex,
      'window_s must be 60..2678400, and bucket_s a whole number of minutes, at least window_s/2000.',
      'window_s',
    );
  await c.usageLog.flush();
  const toMs = Math.ceil(c.clock.now() / (bucketS * 1000)) * bucketS * 1000;
  const fromMs = toMs - windowS * 1000;
  const rows = await c.store.trafficSeries(fromMs, toMs, bucketS * 1000);
  const table = c.routes.table;
  const governed = (m: string) => table.models.get(m)?.governed !== false;
  send(
    res,
    200,
    {
      window: named,
      ...traffic(rows, fromMs, toMs, bucketS * 1000, c.config.routing.primaryCloud, governed),
    },
    ex.requestId,
  );
}

/** GET /v1/entente/capacity: every pool's status and forecast (from the roll-ups: the whole fleet). */
async function capacity(c: AdminContext, _req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  await c.usageLog.flush();
  const pools = await capacityReport(
    c.store,
    c.capacity,
    catalogView(c.catalog.values()),
    c.priceBooks,
    c.clock.now(),
  );
  send(
    res,
    200,
    {
      targetUtilization: c.config.capacity?.targetUtilization ?? null,
      pools,
      programmes: programmesNow(c, c.clock.now()),
    },
    ex.requestId,
  );
}

/** The agreement's joint programmes in force now, each with the pools it names (where, on what). */
function programmesNow(c: AdminContext, nowMs: number) {
  const a = c.routes.agreement;
  const v = a ? versionAsOf(a, nowMs) : null;
  return (v?.terms.programmes ?? []).map((p) => ({
    id: p.id,
    kind: p.kind,
    title: p.title,
    pools: p.pools.map((id) => {
      const pool = c.capacity.byId(id);
      return {
        id,
        datacenter: pool?.datacenter ?? null,
        accelerator: pool?.accelerator ?? null,
        unit: pool?.unit ?? null,
        size: pool?.size ?? null,
      };
    }),
  }));
}

async function recentRequests(c: AdminContext, _req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const limit = Math.min(1000, Math.max(1, Number(ex.query.get('limit') ?? 200) || 200));
  const offset = Math.min(100_000, Math.max(0, Number(ex.query.get('offset') ?? 0) || 0));
  await c.usageLog.flush();
  const needle = (ex.query.get('q') ?? '').toLowerCase();
  // A search looks through the newest 5,000 records; a page without one reads what it shows.
  const rows = requestRows(
    await c.store.listUsage({ limit: needle ? 5_000 : offset + limit + 1 }),
    c.config.routing.primaryCloud,
  ).filter(
    (r) =>
      !needle ||
      [r.requestId, r.model, r.cloud, r.tenant, r.errorCode, r.deployment, String(r.status)].some((f) =>
        (f ?? '').toLowerCase().includes(needle),
      ),
  );
  send(
    res,
    200,
    { requests: rows.slice(offset, offset + limit), offset, hasMore: rows.length > offset + limit },
    ex.requestId,
  );
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

/** A rollout event the schema refused: its first issue, named by its path. */
function badEvent(
  res: ServerResponse,
  ex: Exchange,
  error: { issues: readonly { path: PropertyKey[]; message: string }[] },
) {
  const issue = error.issues[0]!;
  const at = issue.path.map(String).join('.');
  refuse(res, ex, `${at}: ${issue.message}`, at);
}

function audit(c: AdminContext) {
  return auditor(c.store, c.clock, adminActor(c.config.server.adminKeySha256));
}

/** Fields only the server sets: a client that sends them is told where history goes instead. */
const SERVER_FIELDS = ['atMs', 'occurredAtMs', 'importedFrom'] as const;

function serverField(body: unknown): string | null {
  if (!body || typeof body !== 'object') return null;
  return SERVER_FIELDS.find((f) => f in body) ?? null;
}

async function appendAudited(
  c: AdminContext,
  event: NewRolloutEvent,
  action: string,
): Promise<{ ok: true; seq: number } | { ok: false; code: string; reason: string }> {
  const ownerOf = (m: string) => c.catalog.get(m)?.ownedBy;
  const r = await appendRolloutEvent(c.store, c.routes.agreement, event, { ownerOf });
  if (!r.ok) return r;
  const subject = event.kind === 'declaration' ? event.declaration : `${event.model}@${event.modelVersion}`;
  await audit(c).record(action, subject, { seq: r.seq, event });
  return r;
}

async function rolloutEvent(c: AdminContext, req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const body = await readJsonBody(req, 65_536);
  if (!body.ok) return sendError(res, body.error, ex.requestId);
  // The server decides the time: an event is dated when it is appended, and history is imported
  // through its own audited route, so no event can be backdated to skip a soak.
  const field = serverField(body.value);
  if (field)
    return refuse(
      res,
      ex,
      `${field} is set by the server (events are dated when appended); to record past events use POST /v1/entente/rollout/import.`,
      field,
    );
  if ((body.value as { kind?: unknown } | null)?.kind === 'declaration')
    return refuse(res, ex, 'Declarations are entered with POST /v1/entente/declarations.', 'kind');
  const parsed = newEventSchema.safeParse({ ...(body.value as object), atMs: c.clock.now() });
  if (!parsed.success) return badEvent(res, ex, parsed.error);
  const r = await appendAudited(c, parsed.data, 'rollout.event');
  if (!r.ok)
    return sendError(res, gatewayError(r.code as ErrorCode, r.reason, { status: 409 }), ex.requestId);
  await c.routes.refreshLog('rollout event via admin API');
  c.announce('rollout');
  send(res, 201, { seq: r.seq }, ex.requestId);
}

/**
 * Imports past rollout events (from another system's records), admin-only and audited. Each is
 * appended at the end of the log, judged by the rules like any event, and dated now: its claimed
 * time is kept as occurredAtMs, which no gate reads, so an import never opens a deployment
 * earlier than the log's order and the soak allow.
 */
async function rolloutImport(c: AdminContext, req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const body = await readJsonBody(req, 1_048_576);
  if (!body.ok) return sendError(res, body.error, ex.requestId);
  const { source, events } = (body.value ?? {}) as { source?: unknown; events?: unknown };
  if (typeof source !== 'string' || source.length === 0 || source.length > 512)
    return refuse(res, ex, 'source (where the events come from, 1-512 characters) is required.', 'source');
  if (!Array.isArray(events) || events.length === 0 || events.length > 1_000)
    return refuse(res, ex, 'events must be a list of 1 to 1000 rollout events.', 'events');
  const now = c.clock.now();
  const parsed: NewRolloutEvent[] = [];
  for (const [i, e] of events.entries()) {
    const { occurredAt, ...rest } = (e ?? {}) as { occurredAt?: unknown };
    const occurredAtMs = typeof occurredAt === 'string' ? Date.parse(occurredAt) : Number.NaN;
    if (Number.isNaN(occurredAtMs) || occurredAtMs > now)
      return refuse(
        res,
        ex,
        `events[${i}].occurredAt must be an ISO-8601 instant not in the future.`,
        `events[${i}].occurredAt`,
      );
    const field = serverField(rest);
    if (field) return refuse(res, ex, `events[${i}].${field} is set by the server.`, `events[${i}].${field}`);
    const p = newEventSchema.safeParse({ ...rest, atMs: now, occurredAtMs, importedFrom: source });
    if (!p.success || p.data.kind === 'declaration') {
      const issue = p.success
        ? { path: ['kind'], message: 'declarations are not imported' }
        : p.error.issues[0]!;
      return refuse(res, ex, `events[${i}].${issue.path.join('.')}: ${issue.message}`, `events[${i}]`);
    }
    parsed.push(p.data);
  }
  const seqs: number[] = [];
  for (const e of parsed) {
    const r = await appendAudited(c, e, 'rollout.import');
    if (!r.ok) {
      await c.routes.refreshLog('rollout import via admin API');
      return sendError(
        res,
        gatewayError(
          r.code as ErrorCode,
          `event ${seqs.length} of the import refused (${seqs.length} imported before it): ${r.reason}`,
          { status: 409 },
        ),
        ex.requestId,
      );
    }
    seqs.push(r.seq);
  }
  await c.routes.refreshLog('rollout import via admin API');
  c.announce('rollout');
  send(res, 201, { imported: seqs.length, seqs }, ex.requestId);
}

/** Enters an AGI declaration, verified by the expert panel: grants conditioned on it end now. */
async function declaration(c: AdminContext, req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const body = await readJsonBody(req, 65_536);
  if (!body.ok) return sendError(res, body.error, ex.requestId);
  const field = serverField(body.value);
  if (field) return refuse(res, ex, `${field} is set by the server.`, field);
  const { declaration: kind, panelRecordRef } = (body.value ?? {}) as Record<string, unknown>;
  const parsed = newEventSchema.safeParse({
    kind: 'declaration',
    declaration: kind,
    panelRecordRef,
    atMs: c.clock.now(),
  });
  if (!parsed.success) return badEvent(res, ex, parsed.error);
  const r = await appendAudited(c, parsed.data, 'declaration.agi');
  if (!r.ok)
    return sendError(res, gatewayError(r.code as ErrorCode, r.reason, { status: 409 }), ex.requestId);
  await c.routes.refreshLog('declaration via admin API');
  c.announce('rollout');
  send(res, 201, { seq: r.seq, atMs: parsed.data.atMs }, ex.requestId);
}

async function auditLog(c: AdminContext, _req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const limit = Number(ex.query.get('limit') ?? 100);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1_000)
    return refuse(res, ex, 'limit must be an integer from 1 to 1000.', 'limit');
  const entries = await c.store.listAudit({
    limit,
    ...(ex.query.get('action') ? { action: ex.query.get('action')! } : {}),
    ...(ex.query.get('subject') ? { subject: ex.query.get('subject')! } : {}),
  });
  // The files' full texts stay in the store; the API lists what changed.
  const slim = entries.map((e) => {
    const d = e.detail as { text?: unknown } | null;
    if (d && typeof d === 'object' && 'text' in d) {
      const { text: _t, ...rest } = d;
      return { ...e, detail: rest };
    }
    return e;
  });
  send(res, 200, { entries: slim }, ex.requestId);
}

function prices(c: AdminContext, _req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const pb = books(c, res, ex);
  if (!pb) return;
  const at = instantParam(ex.query.get('asOf'));
  if (at === 'bad') return refuse(res, ex, 'asOf must be an ISO-8601 instant.', 'asOf');
  const models = [...c.catalog.values()].map((m) => ({
    name: m.name,
    versions: [...new Set(m.deployments.map((d) => d.modelVersion))],
  }));
  send(res, 200, { currency: pb.currency, prices: priceRows(pb, models, at ?? c.clock.now()) }, ex.requestId);
}

function priceRows(
  pb: PriceBooks,
  models: readonly { name: string; versions: readonly string[] }[],
  atMs: number,
) {
  return resolvedPrices(pb, models, atMs).map((p) => ({
    model: p.model,
    modelVersion: p.modelVersion,
    book: p.bookId,
    perMillion: p.entry
      ? {
          inputUncached: formatMicros(p.entry.inputUncached),
          inputCached: formatMicros(p.entry.inputCached),
          output: formatMicros(p.entry.output),
          reasoning: formatMicros(p.entry.reasoning ?? p.entry.output),
        }
      : null,
  }));
}

/**
 * Each catalog deployment: its circuit breaker now (and how long its cooldown has left), what it
 * served and how its attempts failed in the last hour (from the usage records' attempt logs, so
 * every node's traffic), and its recent state changes (newest first).
 */
async function deploymentHealth(c: AdminContext, _req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const now = c.clock.now();
  const snap = c.health.snapshot(now);
  await c.usageLog.flush();
  // The newest records only (a bounded read on the seq index, however large the table), of the last hour.
  const newest = await c.store.listUsage({ limit: RECENT_RECORDS });
  const recent = attemptsByDeployment(newest.filter((r) => r.startedAtMs >= now - 3_600_000));
  const deployments = [...c.catalog.values()].flatMap((m) =>
    m.deployments.map((d) => {
      const s = snap[d.key];
      const r = recent.get(d.key);
      return {
        deployment: d.key,
        model: m.name,
        cloud: d.cloud,
        state: s?.state ?? 'closed',
        failures: s?.failures ?? 0,
        openUntil: s && s.openUntilMs > now ? new Date(s.openUntilMs).toISOString() : null,
        cooldownRemainingMs: s && s.openUntilMs > now ? s.openUntilMs - now : 0,
        lastHour: {
          served: r?.served ?? 0,
          failed: r?.failed ?? 0,
          byOutcome: r?.byOutcome ?? {},
          lastFailure: r?.last ?? null,
        },
      };
    }),
  );
  const transitions = [...c.health.transitions()]
    .reverse()
    .map((t) => ({ ...t, at: new Date(t.atMs).toISOString() }));
  send(res, 200, { deployments, transitions }, ex.requestId);
}

/**
 * The node registry: every node's row, whether its heartbeat is recent (within three intervals)
 * and whether it runs the same configuration as the node answering (a differing one is flagged).
 */
async function nodes(c: AdminContext, _req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const now = c.clock.now();
  const rows = await c.store.listNodes();
  send(
    res,
    200,
    {
      self: c.node.id,
      nodes: rows.map((n) => ({
        ...n,
        heartbeatAt: new Date(n.heartbeatAtMs).toISOString(),
        live: n.state !== 'stopped' && now - n.heartbeatAtMs <= 3 * c.node.heartbeatMs,
        configMatches: n.configHash === c.node.configHash,
      })),
    },
    ex.requestId,
  );
}

/** How many of the newest usage records the Deployments view reads (its "last hour" is within them). */
const RECENT_RECORDS = 5_000;

/** Per deployment, from usage records: requests served, attempts failed (by how), the last failure. */
function attemptsByDeployment(records: readonly UsageRecord[]) {
  const out = new Map<
    string,
    {
      served: number;
      failed: number;
      byOutcome: Record<string, number>;
      last: { at: string; outcome: string; status: number | null; code: string | null } | null;
    }
  >();
  const entry = (k: string) => {
    let e = out.get(k);
    if (!e) {
      e = { served: 0, failed: 0, byOutcome: {}, last: null };
      out.set(k, e);
    }
    return e;
  };
  // Newest first: the first failure seen for a deployment is its last.
  for (const r of records) {
    if (r.attemptLog)
      for (const a of r.attemptLog) {
        const e = entry(a.deployment);
        if (a.outcome === 'served') e.served++;
        else if (a.outcome !== 'client_gone') {
          e.failed++;
          e.byOutcome[a.outcome] = (e.byOutcome[a.outcome] ?? 0) + 1;
          e.last ??= {
            at: new Date(r.startedAtMs).toISOString(),
            outcome: a.outcome,
            status: a.status,
            code: a.code,
          };
        }
      }
    else if (r.upstreamId && r.deployment && r.status < 500)
      entry(`${r.upstreamId}/${r.deployment}`).served++;
  }
  return out;
}
