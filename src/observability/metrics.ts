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

/** One counter series: what the request path adds to, once found. */
export class CounterCell {
  value = 0;
}

export class Counter extends Metric {
  readonly #values = new Map<string, CounterCell>();
  inc(labels: Labels = {}, by = 1): void {
    this.incKey(this.key(labels), by);
  }
  /** The hot path's way to record: the label values in labelNames order, joined by U+0000. */
  incKey(k: string, by = 1): void {
    this.cell(k).value += by;
  }
  /** The series of a key (as incKey's), created at 0 if new: kept by a caller that adds to it often. */
  cell(k: string): CounterCell {
    let c = this.#values.get(k);
    if (!c) {
      c = new CounterCell();
      this.#values.set(k, c);
    }
    return c;
  }
  get(labels: Labels = {}): number {
    return this.#values.get(this.key(labels))?.value ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [k, c] of this.#values)
      lines.push(`${this.name}${labelText(this.labelNames, this.values(k))} ${c.value}`);
    return lines.join('\n');
  }
}

/**
 * One histogram series. Each observation counts in the one bucket it falls in (the first bound it
 * is at or under; none above the last, nor for NaN); render makes the counts cumulative, as the
 * exposition format has them.
 */
export class HistogramSeries {
  readonly counts: number[];
  sum = 0;
  count = 0;
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Array<number>(bounds.length).fill(0);
  }
  observe(value: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && !(value <= b[i]!)) i++;
    if (i < b.length) this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

export class Histogram extends Metric {
  readonly #series = new Map<string, HistogramSeries>();
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
    this.series(k).observe(value);
  }
  /** The series of a key (as observeKey's), created empty if new. */
  series(k: string): HistogramSeries {
    let s = this.#series.get(k);
    if (!s) {
      s = new HistogramSeries(this.buckets);
      this.#series.set(k, s);
    }
    return s;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [k, s] of this.#series) {
      const v = this.values(k);
      let below = 0;
      this.buckets.forEach((b, i) => {
        below += s.counts[i]!;
        lines.push(`${this.name}_bucket${labelText(this.labelNames, v, `le="${b}"`)} ${below}`);
      });
      lines.push(`${this.name}_bucket${labelText(this.labelNames, v, 'le="+Inf"')} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(this.labelNames, v)} ${s.sum}`);
      lines.push(`${this.name}_count${labelText(this.labelNames, v)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

/** The series a finished request of one (model, cloud) adds to (see RouteSeriesCache). */
export interface RouteSeries {
  /** The model's and cloud's label values, joined as Counter.incKey's keys begin. */
  readonly prefix: string;
  /** entente_requests_total for status 200 with no error code, not streamed and streamed, once used. */
  readonly ok: [CounterCell | null, CounterCell | null];
  /** entente_tokens_total by bucket (input_uncached, input_cached, output, reasoning), once used. */
  readonly tokens: [CounterCell | null, CounterCell | null, CounterCell | null, CounterCell | null];
  readonly duration: HistogramSeries;
}

const TOKEN_BUCKETS = ['input_uncached', 'input_cached', 'output', 'reasoning'] as const;

/**
 * Each (model, cloud)'s series, found by two look-ups of the short strings themselves: building
 * a key string a request and hashing it in four maps cost the request path about 6,000
 * instructions (callgrind, bench/instructions-bench.ts). Model and cloud are catalog names (the
 * caller maps anything else to one label), so this holds as many entries as the catalog has.
 */
export class RouteSeriesCache {
  readonly #byModel = new Map<string, Map<string, RouteSeries>>();
  constructor(
    readonly requests: Counter,
    readonly tokens: Counter,
    readonly duration: Histogram,
  ) {}
  of(model: string, cloud: string): RouteSeries {
    let byCloud = this.#byModel.get(model);
    if (!byCloud) {
      byCloud = new Map();
      this.#byModel.set(model, byCloud);
    }
    let s = byCloud.get(cloud);
    if (!s) {
      const prefix = `${model}\u0000${cloud}`;
      s = {
        prefix,
        ok: [null, null],
        tokens: [null, null, null, null],
        duration: this.duration.series(prefix),
      };
      byCloud.set(cloud, s);
    }
    return s;
  }
  /** Counts a request answered 200 with no error code (its series created on first use). */
  countOk(s: RouteSeries, stream: boolean): void {
    const i = stream ? 1 : 0;
    s.ok[i] ??= this.requests.cell(`${s.prefix}\u0000200\u0000\u0000${stream}`);
    s.ok[i].value++;
  }
  /** Adds to a token bucket's series, creating it on first use (an unused bucket has no series). */
  addTokens(s: RouteSeries, bucket: 0 | 1 | 2 | 3, n: number): void {
    s.tokens[bucket] ??= this.tokens.cell(`${s.prefix}\u0000${TOKEN_BUCKETS[bucket]}`);
    s.tokens[bucket].value += n;
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
  const m = {
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
  return { ...m, routes: new RouteSeriesCache(m.requests, m.tokens, m.duration) };
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
