// GET /metrics: the registry's counters and histograms, plus gauges of state read now (usage-log
// backlog, metering, the route table in force, each revenue share's accrual and cap headroom).
// Behind the admin key when one is configured (Prometheus sends it as a bearer token).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { gatewayError } from '../errors/index.js';
import { type Exchange, presentsKey, sendError, sendJsonBytes } from '../http/index.js';
import { shareTotals } from '../ledger/index.js';
import { renderGauge } from '../observability/index.js';
import type { AdminContext } from './context.js';

export function metricsHandler(gw: AdminContext) {
  return (req: IncomingMessage, res: ServerResponse, ex: Exchange) =>
    serveMetrics(gw, req, res, ex.requestId);
}

async function serveMetrics(
  gw: AdminContext,
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
): Promise<void> {
  req.resume();
  const expected = gw.config.server.adminKeySha256;
  if (expected && !presentsKey(req.headers, expected))
    return sendError(res, gatewayError('admin_unauthorized'), requestId);
  const table = gw.routes.table;
  const parts = [
    gw.metrics.registry.render().trimEnd(),
    renderGauge(
      'entente_usage_log_pending_records',
      'Usage records spooled (on disk) but not yet stored in the database.',
      [{ value: gw.usageLog.pending }],
    ),
    renderGauge('entente_usage_log_written_records', 'Usage records stored since start.', [
      { value: gw.usageLog.written },
    ]),
    renderGauge(
      'entente_ledger_posted_records',
      'Usage records posted to the ledger by this node since start.',
      [{ value: gw.usageLog.posted }],
    ),
    renderGauge(
      'entente_usage_spool_recovered_records',
      'Usage records recovered from the spool at start that the database lacked.',
      [{ value: gw.usageLog.recovered }],
    ),
    renderGauge(
      'entente_budget_drift_micros',
      "Each budget's counter minus the ledger's booked spend at the last reconcile (micro-units; positive while postings lag).",
      [...gw.limits.drift.values()].map((d) => ({ labels: { rule: d.rule }, value: d.driftMicros })),
    ),
    loopDelayGauge(gw),
    breakerGauge(gw),
    renderGauge('entente_route_table_info', 'The route table in force (value 1).', [
      {
        labels: { agreement_version: table.agreementVersionId ?? '', rollout_seq: String(table.rolloutSeq) },
        value: 1,
      },
    ]),
  ];
  const agreement = gw.routes.agreement;
  if (agreement && gw.priceBooks) {
    // From the accrual states alone: a scrape must not scan the ledger.
    // A scrape must answer even when the database does not: past 2 s these gauges are left out.
    const states = await withinMs(gw.store.accrualStates(), 2_000);
    if (states === null) return sendText(res, requestId, parts);
    const terms = new Map(
      agreement.versions.flatMap((v) =>
        v.terms.revenueShares.map((r) => [`${agreement.id}/${r.id}`, r] as const),
      ),
    );
    const currency = gw.priceBooks.currency;
    const totals = shareTotals(agreement, states);
    const samples = [...terms].map(([id, r]) => ({
      id,
      cap: r.cap?.amount ?? null,
      accrued: totals.get(id)?.accruedMicros ?? 0n,
      revenue: totals.get(id)?.revenueMicros ?? 0n,
    }));
    parts.push(
      renderGauge(
        'entente_revenue_share_eligible_revenue_micros',
        'The cost of the traffic (priced usage) counted toward each revenue-share term, in micro-units.',
        samples.map((x) => ({ labels: { term: x.id, currency }, value: x.revenue })),
      ),
      renderGauge(
        'entente_revenue_share_accrued_micros',
        'Revenue share accrued, in micro-units of its currency.',
        samples.map((x) => ({ labels: { term: x.id, currency }, value: x.accrued })),
      ),
      renderGauge(
        'entente_revenue_share_cap_remaining_micros',
        'Headroom under the revenue-share cap, in micro-units (capped terms only).',
        samples
          .filter((x) => x.cap !== null)
          .map((x) => ({ labels: { term: x.id, currency }, value: x.cap! - x.accrued })),
      ),
    );
  }
  sendText(res, requestId, parts);
}

function sendText(res: ServerResponse, requestId: string, parts: readonly string[]): void {
  sendJsonBytes(res, 200, `${parts.join('\n')}\n`, {
    'x-request-id': requestId,
    'content-type': 'text/plain; version=0.0.4; charset=utf-8',
  });
}

/** The promise's value, or null if it takes longer than `ms` (the promise is left to settle). */
function withinMs<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.catch(() => null),
    new Promise<null>((r) => {
      timer = setTimeout(() => r(null), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const LOOP_RESOLUTION_NS = 10_000_000;

/** The serving thread's event-loop delay since the previous scrape, then reset for the next one. */
function loopDelayGauge(gw: AdminContext): string {
  const h = gw.loopDelay;
  // Node samples with a 10 ms timer and records the whole interval: the delay is what exceeds it.
  const s = (ns: number) =>
    Number.isFinite(ns) && h.count > 0 ? Math.max(0, ns - LOOP_RESOLUTION_NS) / 1e9 : 0;
  const text = renderGauge(
    'nodejs_eventloop_delay_seconds',
    'Event-loop delay of the serving thread since the previous scrape (sampled every 10 ms).',
    [
      { labels: { quantile: '0.5' }, value: s(h.percentile(50)) },
      { labels: { quantile: '0.99' }, value: s(h.percentile(99)) },
      { labels: { quantile: '1' }, value: s(h.max) },
    ],
  );
  h.reset();
  return text;
}

const BREAKER_VALUE = { closed: 0, open: 1, 'half-open': 2 } as const;

/** Each deployment's circuit breaker: 0 closed, 1 open (cooling down), 2 half-open (one probe out). */
function breakerGauge(gw: AdminContext): string {
  const now = gw.clock.now();
  const snap = gw.health.snapshot(now);
  const samples = [...gw.catalog.values()].flatMap((m) =>
    m.deployments.map((d) => ({
      labels: { deployment: d.key, cloud: d.cloud },
      value: BREAKER_VALUE[snap[d.key]?.state ?? 'closed'],
    })),
  );
  const unique = [...new Map(samples.map((x) => [x.labels.deployment, x])).values()];
  return renderGauge(
    'entente_deployment_breaker_state',
    "Each deployment's circuit breaker: 0 closed, 1 open (cooling down), 2 half-open (one probe in flight).",
    unique,
  );
}
