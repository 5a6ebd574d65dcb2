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

import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { diffVersions, parseAgreementText, versionAsOf } from '../agreements/index.js';
import { ConfigError } from '../config/index.js';
import { gatewayError } from '../errors/index.js';
import { hashKey, presentedKey } from '../gateway/auth.js';
import type { GatewayContext } from '../gateway/context.js';
import { readBody } from '../gateway/read-body.js';
import { sendError, sendJsonBytes } from '../gateway/respond.js';
import {
  balances,
  buildStatement,
  formatMicros,
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

const MAX_TRAFFIC_RECORDS = 200_000;

/** JSON with bigints (money, ratios) as decimal strings. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
}

function send(res: ServerResponse, status: number, value: unknown, requestId: string): void {
  sendJsonBytes(res, status, toJson(value), { 'x-request-id': requestId });
}

function instantParam(v: string | null): number | null | 'bad' {
  if (v === null) return null;
  const ms = Date.parse(v);
  return Number.isNaN(ms) ? 'bad' : ms;
}

export function isAdminPath(path: string): boolean {
  return path.startsWith('/v1/entente/');
}

export async function handleAdmin(
  gw: GatewayContext,
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
): Promise<void> {
  const expected = gw.config.server.adminKeySha256;
  const key = presentedKey(req.headers);
  if (!expected || !key || !timingSafeEqual(Buffer.from(hashKey(key), 'hex'), Buffer.from(expected, 'hex'))) {
    req.resume();
    return sendError(res, gatewayError('admin_unauthorized'), requestId);
  }
  const url = new URL(req.url ?? '/', 'http://admin');
  const path = url.pathname;
  const q = url.searchParams;
  const agreement = gw.routes.agreement;
  const method = req.method ?? 'GET';

  if (method === 'GET' && path === '/v1/entente/route') {
    const model = q.get('model');
    if (!model)
      return sendError(
        res,
        gatewayError('invalid_request', 'Query parameter model is required.', { param: 'model' }),
        requestId,
      );
    const tenant = q.get('tenant');
    const licensee = tenant ? (gw.licenseeOf.get(tenant) ?? null) : (q.get('licensee') ?? null);
    return send(res, 200, explainRoute(gw.routes.table, model, licensee), requestId);
  }
  if (method === 'GET' && path === '/v1/entente/agreement') {
    if (!agreement)
      return sendError(
        res,
        gatewayError('not_found', 'No agreement is configured (config: agreement.file).'),
        requestId,
      );
    const asOf = instantParam(q.get('as_of'));
    const knownAt = instantParam(q.get('known_at'));
    if (asOf === 'bad' || knownAt === 'bad')
      return sendError(
        res,
        gatewayError('invalid_request', 'as_of and known_at must be ISO-8601 instants.'),
        requestId,
      );
    const v = versionAsOf(agreement, asOf ?? Date.now(), knownAt ?? Number.POSITIVE_INFINITY);
    return send(
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
      requestId,
    );
  }
  if (method === 'GET' && path === '/v1/entente/agreement/diff') {
    if (!agreement)
      return sendError(res, gatewayError('not_found', 'No agreement is configured.'), requestId);
    const from = agreement.versions.find((v) => v.id === q.get('from'));
    const to = agreement.versions.find((v) => v.id === q.get('to'));
    if (!from || !to)
      return sendError(
        res,
        gatewayError(
          'invalid_request',
          `from and to must be version ids: ${agreement.versions.map((v) => v.id).join(', ')}`,
        ),
        requestId,
      );
    return send(res, 200, { from: from.id, to: to.id, changes: diffVersions(from, to) }, requestId);
  }
  if (method === 'POST' && path === '/v1/entente/agreement/validate') {
    // The same validation as `entente agreement validate`, for a proposed file sent as the body.
    const raw = await readBody(req, 1_048_576);
    if (!Buffer.isBuffer(raw)) return sendError(res, raw, requestId);
    try {
      const a = parseAgreementText(raw.toString('utf8'), q.get('file') ?? 'agreement.yaml');
      return send(res, 200, { valid: true, id: a.id, versions: a.versions.map((v) => v.id) }, requestId);
    } catch (err) {
      if (err instanceof ConfigError)
        return send(res, 422, { valid: false, problems: err.problems }, requestId);
      throw err;
    }
  }
  if (path.startsWith('/v1/entente/ledger/') || path === '/v1/entente/revenue-share') {
    const store = gw.routes.opts.store;
    const books = gw.priceBooks;
    if (!books)
      return sendError(
        res,
        gatewayError('not_found', 'Metering is off: the config has no ledger section.'),
        requestId,
      );
    if (method === 'GET' && path === '/v1/entente/ledger/balances') {
      const b = await balances(store);
      return send(
        res,
        200,
        {
          currency: books.currency,
          balances: Object.fromEntries([...b].sort().map(([k, v]) => [k, formatMicros(v)])),
        },
        requestId,
      );
    }
    if (method === 'GET' && path === '/v1/entente/ledger/statement') {
      const period = q.get('period') ?? periodOf(Date.now());
      if (!/^\d{4}-\d{2}$/.test(period))
        return sendError(
          res,
          gatewayError('invalid_request', 'period must be YYYY-MM.', { param: 'period' }),
          requestId,
        );
      const s = await buildStatement(store, period, q.get('account') ?? undefined);
      if (q.get('format') === 'csv') {
        res.setHeader('content-disposition', `attachment; filename="statement-${period}.csv"`);
        return sendJsonBytes(res, 200, statementCsv(s), {
          'x-request-id': requestId,
          'content-type': 'text/csv; charset=utf-8',
        });
      }
      return send(res, 200, statementJson(s), requestId);
    }
    if (method === 'POST' && path === '/v1/entente/ledger/close') {
      const period = q.get('period') ?? '';
      if (!/^\d{4}-\d{2}$/.test(period))
        return sendError(
          res,
          gatewayError('invalid_request', 'period must be YYYY-MM.', { param: 'period' }),
          requestId,
        );
      return send(
        res,
        200,
        { period, closed: true, newlyClosed: await store.closePeriod(period, Date.now()) },
        requestId,
      );
    }
    if (method === 'POST' && path === '/v1/entente/ledger/refunds') {
      const raw = await readBody(req, 65_536);
      if (!Buffer.isBuffer(raw)) return sendError(res, raw, requestId);
      let body: { refundId?: unknown; requestId?: unknown; amount?: unknown };
      try {
        body = JSON.parse(raw.toString('utf8')) as typeof body;
      } catch {
        return sendError(res, gatewayError('invalid_json'), requestId);
      }
      const { refundId, requestId: refunded, amount } = body;
      if (typeof refundId !== 'string' || typeof refunded !== 'string' || typeof amount !== 'string') {
        return sendError(
          res,
          gatewayError('invalid_request', 'refundId, requestId and amount (a decimal string) are required.'),
          requestId,
        );
      }
      let amountMicros: bigint;
      try {
        amountMicros = parseMajor(amount);
      } catch (err) {
        return sendError(
          res,
          gatewayError('invalid_request', (err as Error).message, { param: 'amount' }),
          requestId,
        );
      }
      const setup = { priceBooks: books, agreement, owner: gw.config.ledger?.owner ?? 'operator' };
      const r = await postRefund(
        store,
        { refundId, requestId: refunded, amountMicros, atMs: Date.now() },
        setup,
      );
      if (!r.ok)
        return send(
          res,
          409,
          { error: { message: r.message, type: 'invalid_request_error', param: null, code: r.code } },
          requestId,
        );
      return send(
        res,
        r.duplicate ? 200 : 201,
        { refundId, duplicate: r.duplicate, accrualChange: formatMicros(r.accrualChangeMicros) },
        requestId,
      );
    }
    if (method === 'GET' && path === '/v1/entente/revenue-share') {
      if (!agreement)
        return sendError(res, gatewayError('not_found', 'No agreement is configured.'), requestId);
      const shares = await revenueShareStatus(store, agreement, books.currency, Date.now());
      if (q.get('history') !== '1') return send(res, 200, { shares }, requestId);
      const rows = await store.ledgerRows();
      return send(
        res,
        200,
        {
          shares: shares.map((sh) => ({ ...sh, history: accrualHistory(rows, sh.payee, sh.termId) })),
        },
        requestId,
      );
    }
  }
  if (method === 'GET' && path === '/v1/entente/traffic') {
    const windowS = Number(q.get('window_s') ?? 3600);
    const bucketS = Number(q.get('bucket_s') ?? 60);
    if (
      !Number.isInteger(windowS) ||
      windowS < 60 ||
      windowS > 31 * 86_400 ||
      !Number.isInteger(bucketS) ||
      bucketS < 1 ||
      windowS / bucketS > 2000
    )
      return sendError(
        res,
        gatewayError('invalid_request', 'window_s must be 60..2678400 and bucket_s at least window_s/2000.', {
          param: 'window_s',
        }),
        requestId,
      );
    await gw.usageLog.flush();
    const toMs = Math.ceil(Date.now() / (bucketS * 1000)) * bucketS * 1000;
    const fromMs = toMs - windowS * 1000;
    const records = await gw.routes.opts.store.listUsage({ sinceMs: fromMs, limit: MAX_TRAFFIC_RECORDS });
    return send(
      res,
      200,
      traffic(records, fromMs, toMs, bucketS * 1000, gw.config.routing.primaryCloud),
      requestId,
    );
  }
  if (method === 'GET' && path === '/v1/entente/requests') {
    const limit = Math.min(1000, Math.max(1, Number(q.get('limit') ?? 200) || 200));
    await gw.usageLog.flush();
    const needle = (q.get('q') ?? '').toLowerCase();
    const rows = requestRows(
      await gw.routes.opts.store.listUsage({ limit: needle ? 5000 : limit }),
      gw.config.routing.primaryCloud,
    ).filter(
      (r) =>
        !needle ||
        [r.requestId, r.model, r.cloud, r.tenant, r.errorCode, r.deployment, String(r.status)].some((f) =>
          (f ?? '').toLowerCase().includes(needle),
        ),
    );
    return send(res, 200, { requests: rows.slice(0, limit) }, requestId);
  }
  if (method === 'GET' && path === '/v1/entente/rollout/status') {
    const term = agreement ? (versionAsOf(agreement, Date.now())?.terms.cloud ?? null) : null;
    return send(res, 200, rolloutMatrix(gw.catalog, gw.routes.log, term, Date.now()), requestId);
  }
  if (method === 'GET' && path === '/v1/entente/rollout') {
    return send(res, 200, { events: gw.routes.log }, requestId);
  }
  if (method === 'POST' && path === '/v1/entente/rollout/events') {
    const raw = await readBody(req, 65_536);
    if (!Buffer.isBuffer(raw)) return sendError(res, raw, requestId);
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return sendError(res, gatewayError('invalid_json'), requestId);
    }
    const parsed = newEventSchema.safeParse({ atMs: Date.now(), ...(body as object) });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      return sendError(
        res,
        gatewayError('invalid_request', `${issue.path.join('.')}: ${issue.message}`, {
          param: issue.path.join('.'),
        }),
        requestId,
      );
    }
    const r = await appendRolloutEvent(gw.routes.opts.store, agreement, parsed.data);
    if (!r.ok) return sendError(res, gatewayError(r.code, r.reason, { status: 409 }), requestId);
    await gw.routes.refreshLog('rollout event via admin API');
    return send(res, 201, { seq: r.seq }, requestId);
  }
  req.resume();
  return sendError(res, gatewayError('not_found', `No admin route for ${method} ${path}.`), requestId);
}
