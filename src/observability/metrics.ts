// Prometheus metrics, in the text exposition format
// (https://prometheus.io/docs/instrumenting/exposition_formats/). A tiny registry: counters and
// histograms keyed by their label values (gauges of state are read at scrape time, in /metrics). Recording is a Map lookup
// and an addition, cheap enough for the request path.

type Labels = Readonly<Record<string, string>>;

function escapeLabel(v: string): string {
  return v.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll('"', '\\"');
}

function labelText(names: readonly string[], values: readonly string[], extra = ''): string {
  const parts = names.map((n, i) => `${n}="${escapeLabel(values[i] ?? '')}"`);
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(',')}}` : '';
}

abstract class Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {}
  protected key(labels: Labels): string {
    return this.labelNames.map((n) => labels[n] ?? '').join('\u0000');
  }
  protected values(key: string): string[] {
    return key.split('\u0000');
  }
  abstract render(): string;
}

export class Counter extends Metric {
  readonly #values = new Map<string, number>();
  inc(labels: Labels = {}, by = 1): void {
    this.incKey(this.key(labels), by);
  }
  /** The hot path's way to record: the label values in labelNames order, joined by U+0000. */
  incKey(k: string, by = 1): void {
    this.#values.set(k, (this.#values.get(k) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.#values.get(this.key(labels)) ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [k, v] of this.#values)
      lines.push(`${this.name}${labelText(this.labelNames, this.values(k))} ${v}`);
    return lines.join('\n');
  }
}

export class Histogram extends Metric {
  readonly #series = new Map<string, { counts: number[]; sum: number; count: number }>();
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    readonly buckets: readonly number[],
  ) {
    super(name, help, labelNames);
  }
  observe(labels: Labels, value: number): void {
    this.observeKey(this.key(labels), value);
  }
  observeKey(k: string, value: number): void {
    let s = this.#series.get(k);
    if (!s) {
      s = { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [k, s] of this.#series) {
      const v = this.values(k);
      this.buckets.forEach((b, i) => {
        lines.push(`${this.name}_bucket${labelText(this.labelNames, v, `le="${b}"`)} ${s.counts[i]}`);
      });
      lines.push(`${this.name}_bucket${labelText(this.labelNames, v, 'le="+Inf"')} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(this.labelNames, v)} ${s.sum}`);
      lines.push(`${this.name}_count${labelText(this.labelNames, v)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

export class Registry {
  readonly #metrics: Metric[] = [];
  add<M extends Metric>(m: M): M {
    this.#metrics.push(m);
    return m;
  }
  render(): string {
    return `${this.#metrics.map((m) => m.render()).join('\n')}\n`;
  }
}

const SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const OVERHEAD_SECONDS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025];

/** Entente's metrics. Names follow Prometheus conventions; labels follow the OpenTelemetry GenAI
 * semantic conventions where one applies (gen_ai.request.model → model, gen_ai.token.type → type). */
export function createGatewayMetrics() {
  const registry = new Registry();
  return {
    registry,
    requests: registry.add(
      new Counter('entente_requests_total', 'Chat completion requests, by outcome.', [
        'model',
        'cloud',
        'status',
        'code',
        'stream',
      ]),
    ),
    tokens: registry.add(
      new Counter(
        'entente_tokens_total',
        'Tokens served, by disjoint bucket (input_uncached, input_cached, output, reasoning).',
        ['model', 'cloud', 'type'],
      ),
    ),
    duration: registry.add(
      new Histogram(
        'entente_request_duration_seconds',
        'Time from request to the end of the response.',
        ['model', 'cloud'],
        SECONDS,
      ),
    ),
    overhead: registry.add(
      new Histogram(
        'entente_gateway_overhead_seconds',
        "The gateway's own added time, excluding upstream waits.",
        ['stream'],
        OVERHEAD_SECONDS,
      ),
    ),
    failovers: registry.add(
      new Counter(
        'entente_failovers_total',
        'Upstream attempts that failed and moved the request on, by cloud and reason.',
        ['cloud', 'reason'],
      ),
    ),
    failedAttemptTokens: registry.add(
      new Counter(
        'entente_failed_attempt_tokens_total',
        "Tokens a failed attempt's cloud had begun billing before it broke (the operator's cost of failing over; not billed to the tenant), by disjoint bucket.",
        ['cloud', 'type'],
      ),
    ),
    cooldowns: registry.add(
      new Counter('entente_cooldowns_total', 'Times a deployment was put in cooldown.', [
        'deployment',
        'reason',
      ]),
    ),
    rebuilds: registry.add(
      new Counter('entente_route_table_rebuilds_total', 'Route table rebuilds, by cause.', ['cause']),
    ),
    fleetDelay: registry.add(
      new Histogram(
        'entente_fleet_message_delay_seconds',
        "Time from a peer node publishing a fleet message (cooldown, recovery, change) to this node applying it (the nodes' clock skew included).",
        ['kind'],
        [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      ),
    ),
    connectionsRefused: registry.add(
      new Counter(
        'entente_connections_refused_total',
        'Client connections refused at a connection cap, by cap (total or per_client).',
        ['reason'],
      ),
    ),
    limitRefusals: registry.add(
      new Counter(
        'entente_limit_refusals_total',
        'Requests refused by a limit, by kind (requests, tokens, concurrent, budget, unavailable) and rule.',
        ['kind', 'rule'],
      ),
    ),
    limiterRoundTrips: registry.add(
      new Counter(
        'entente_limiter_redis_round_trips_total',
        'Redis calls of the fleet limiter, by operation.',
        ['op'],
      ),
    ),
    budgetAlerts: registry.add(
      new Counter(
        'entente_budget_alerts_total',
        'Budgets that crossed an alert fraction of their period, by rule and fraction.',
        ['rule', 'fraction'],
      ),
    ),
    budgetReconciled: registry.add(
      new Counter(
        'entente_budget_reconcile_rules_total',
        'Budget rules at each reconcile: compared with the ledger (checked), or left because their booked spend had not moved (unchanged).',
        ['outcome'],
      ),
    ),
    breakerTransitions: registry.add(
      new Counter(
        'entente_breaker_transitions_total',
        'Circuit-breaker state changes, by deployment and the state entered (closed, open, half_open).',
        ['deployment', 'to'],
      ),
    ),
  };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;

/** One gauge in the exposition format, its samples given. */
export function renderGauge(
  name: string,
  help: string,
  samples: readonly { labels?: Readonly<Record<string, string>>; value: number | bigint }[],
): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} gauge`];
  for (const s of samples) {
    const names = Object.keys(s.labels ?? {});
    lines.push(
      `${name}${labelText(
        names,
        names.map((n) => s.labels![n]!),
      )} ${s.value}`,
    );
  }
  return lines.join('\n');
}
