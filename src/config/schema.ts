// The configuration file's schema. Validated once at start, then frozen. Units go last in names.
import { z } from 'zod';
import { PROVIDER_IDS } from '../provider-ids/index.js';

const id = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be 1-64 characters of a-z, 0-9, dot, dash, underscore');
const ms = z.number().int().positive();

export const serverSchema = z.strictObject({
  /** The address to listen on (0.0.0.0: every interface). Env ENTENTE_HOST and --host override it. */
  host: z.string().default('127.0.0.1'),
  /** The port to listen on (0: any free port). Env ENTENTE_PORT and --port override it. */
  port: z.coerce.number().int().min(0).max(65535).default(8080),
  /** A request body larger than this is refused with 413 (4 MiB: room for a few images as data URLs). */
  bodyLimitBytes: z
    .number()
    .int()
    .positive()
    .default(4 * 1_048_576),
  /** Request headers larger than this in total are refused with 431. */
  headerLimitBytes: z.number().int().min(1024).default(16_384),
  /** A stream is ended after this, whatever the upstream still sends. */
  streamMaxDurationMs: ms.default(600_000),
  /** A whole non-streamed request, every attempt included, ends after this. */
  requestTimeoutMs: ms.default(300_000),
  /** A client must send its whole request (headers and body) within this; slow senders are cut. */
  receiveTimeoutMs: ms.default(30_000),
  /** An idle client connection is closed after this (longer than a load balancer's own idle timeout). */
  keepAliveTimeoutMs: ms.default(65_000),
  /** Open client connections in total; past it, a new connection gets 503 too_many_connections. */
  maxConnections: z.number().int().min(1).default(10_000),
  /** Open client connections from one address (a load balancer in front counts as one: raise it). */
  maxConnectionsPerClient: z.number().int().min(1).default(1_000),
  /** On SIGTERM, requests in flight get this long to finish before the process exits. */
  shutdownGraceMs: ms.default(30_000),
  /**
   * On SIGTERM, /readyz answers 503 this long while the listener still serves, so a load balancer
   * stops sending new requests before the node stops accepting them.
   */
  preStopMs: z.number().int().min(0).default(0),
  /** Admin key's SHA-256 (hex). The admin API is off when unset. */
  adminKeySha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .optional(),
});

export const cooldownSchema = z.strictObject({
  /** Consecutive failures that open the breaker. */
  failureThreshold: z.number().int().min(1).default(2),
  /** How long an open breaker keeps a deployment out of rotation before one probe is let through. */
  cooldownMs: ms.default(15_000),
  /** Each reopening after a failed probe doubles the cooldown, up to this. */
  maxCooldownMs: ms.default(300_000),
});

export const routingSchema = z.strictObject({
  /** The cloud preferred whenever a healthy deployment exists there (an agreement's primary overrides it). */
  primaryCloud: id,
  /** Deployments tried for one request before giving up (the first attempt included). */
  maxAttempts: z.number().int().min(1).max(10).default(3),
  /** A retry-after longer than this is capped for cooldown purposes. */
  maxRetryAfterMs: ms.default(120_000),
  /**
   * The time budget of one request across its attempts: once spent, no further deployment is
   * tried (the request ends with what the attempts so far came to).
   */
  budgetMs: ms.default(90_000),
  /** The circuit breaker of each deployment: failures open it, a cooldown passes, one probe closes it. */
  cooldown: cooldownSchema.default(cooldownSchema.parse({})),
});

const authSchema = z.union([
  z.strictObject({
    /** The environment variable that holds the API key (read at start; a missing one stops the start). */
    apiKeyEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name'),
  }),
  z.strictObject({
    /** The API key itself (write `${NAME}` to take it from the environment instead). */
    apiKey: z.string().min(1),
  }),
  /** AWS SigV4 (Bedrock), the credentials read from environment variables. */
  z.strictObject({
    /** The environment variable that holds the AWS access key id. */
    awsAccessKeyIdEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/),
    /** The environment variable that holds the AWS secret access key. */
    awsSecretAccessKeyEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/),
    /** The environment variable that holds a session token (temporary credentials). */
    awsSessionTokenEnv: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/)
      .optional(),
  }),
  /** A Google service-account key file (Vertex): OAuth tokens are minted and refreshed from it. */
  z.strictObject({
    /** The service-account key file (JSON) of a Google Cloud project. */
    googleServiceAccountFile: z.string().min(1),
  }),
  /** AWS SigV4 with literal credentials: for simulators and tests only. */
  z.strictObject({
    /** An AWS access key id, literally (simulators and tests). */
    awsAccessKeyId: z.string().min(1),
    /** An AWS secret access key, literally (simulators and tests). */
    awsSecretAccessKey: z.string().min(1),
  }),
]);

export const upstreamSchema = z.strictObject({
  /** The upstream's id: deployments name it (`<upstream id>/<deployment>`). */
  id,
  /** The API it speaks. */
  provider: z.enum(PROVIDER_IDS),
  /** The cloud it runs on, as the agreement names clouds (azure, aws, gcp, openai…). */
  cloud: id,
  /** The region (Bedrock's and Vertex's is part of the URL and signature). */
  region: z.string().min(1).default('global'),
  /** An http(s) URL, or `sim://<simulator id>` for a simulator started beside the gateway. */
  baseUrl: z.string().regex(/^(https?:\/\/|sim:\/\/)/, 'must start with http://, https:// or sim://'),
  /** How Entente authenticates to it: one of the shapes below. */
  auth: authSchema.optional(),
  /** Azure only: the api-version query; its presence selects the classic /deployments/ paths. */
  apiVersion: z.string().min(1).optional(),
  /** Azure only: `deployments` (classic, with api-version) or `v1` (/openai/v1/, model in body). */
  azurePathStyle: z.enum(['deployments', 'v1']).default('deployments'),
  /** Vertex only (vertex, anthropic-vertex): the Google Cloud project; the location is `region`. */
  project: z.string().min(1).optional(),
  /** Anthropic only: the API version (2023-06-01, 2026-10-21; hosted: bedrock-2023-05-31, vertex-2023-10-16). */
  anthropicVersion: z.string().min(1).optional(),
  /** Time allowed to open a connection to it. */
  connectTimeoutMs: ms.default(5_000),
  /** Time allowed until the upstream's response headers (a JSON answer's headers come when it is done). */
  headersTimeoutMs: ms.default(60_000),
  /**
   * Streams: time allowed from sending the request to the upstream's first event. A hung upstream
   * costs this, not headersTimeoutMs, before the next deployment is tried.
   */
  firstByteTimeoutMs: ms.default(10_000),
  /** Time allowed between two chunks of a streamed body. */
  bodyIdleTimeoutMs: ms.default(60_000),
  /** Open connections to it at most (a keep-alive pool per upstream). */
  maxConnections: z.number().int().min(1).default(256),
});

export const deploymentSchema = z.strictObject({
  /** The upstream's id. */
  upstream: id,
  /** Azure deployment name, or the upstream's model id. */
  deployment: z.string().min(1),
  /** The model version it serves (the rollout log, the first-deployment rule and prices name it). */
  modelVersion: z.string().min(1),
  /** Share of traffic among equally ranked deployments (0: only when the others fail). */
  weight: z.number().int().min(0).max(1000).default(1),
  /** Lower is tried earlier among non-primary deployments. */
  priority: z.number().int().min(0).default(100),
});

export const modelSchema = z.strictObject({
  /** The public model name clients send (`model` in the request). */
  name: z.string().min(1).max(256),
  /** The party that owns the model (agreement scopes and revenue bases filter on it). */
  ownedBy: z.string().default('entente'),
  /** Where it is served. */
  deployments: z.array(deploymentSchema).min(1),
});

export const keySchema = z.strictObject({
  /** The key's id (logs, metrics and usage records name it; never the key). */
  id,
  /** The key's SHA-256 in hex: the key itself is never in the config. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be the hex SHA-256 of the key (entente keys hash <key>)'),
  /** Public model names, or ['*'] for every model in the catalog. */
  models: z.array(z.string().min(1)).min(1).default(['*']),
});

export const tenantSchema = z.strictObject({
  /** The tenant's id. */
  id,
  /** A name for people. */
  name: z.string().min(1).optional(),
  /** The agreement party this tenant's traffic is licensed as; unset = first-party, not licence-gated. */
  licensee: id.optional(),
  /**
   * The party whose revenue this tenant's usage is (revenue bases filter on it); unset =
   * ledger.owner.
   */
  seller: id.optional(),
  /** Keys declared in the config (keys created with `entente keys create` live in the store). */
  keys: z.array(keySchema).default([]),
});

export const simulatorSchema = z.strictObject({
  /** The simulator's id: an upstream reaches it at `sim://<id>`. */
  id,
  /** The cloud it simulates. */
  kind: z.enum(['azure-openai', 'openai', 'bedrock', 'google', 'anthropic']),
  /** 0 = any free port. */
  port: z.coerce.number().int().min(0).max(65535).default(0),
  /** Added before each answer. */
  latencyMs: z.number().int().min(0).default(20),
  /** Stream pace (0: every chunk at once). */
  tokensPerSecond: z.number().int().min(0).default(0),
});

export const agreementRefSchema = z.strictObject({
  /** The agreement YAML file; a relative path resolves against the config file's folder. */
  file: z.string().min(1),
  /** How often the file and the rollout log are checked for changes. */
  pollMs: ms.default(1_000),
  /** Rollout events written when the rollout log is empty (a fresh data directory). */
  seedRollout: z
    .array(
      z.strictObject({
        /** The model. */
        model: z.string().min(1),
        /** The model version. */
        modelVersion: z.string().min(1),
        /** The cloud it is live on. */
        cloud: id,
        /** The region. */
        region: z.string().default('global'),
        /** The rollout stage. */
        stage: z.enum(['planned', 'preview', 'ga', 'retired']),
        /** Why, for the log. */
        evidence: z.string().default('seeded from the config'),
      }),
    )
    .default([]),
});

export const ledgerSchema = z.strictObject({
  /** The price-book file; a relative path resolves against the config file's folder. */
  priceBooks: z.string().min(1),
  /** The party whose revenue usage is, for tenants that name no seller of their own. */
  owner: id,
  /** A model with no price: `refuse` it at request time, or serve it and `flag` the usage. */
  unpriced: z.enum(['refuse', 'flag']).default('refuse'),
  /** How often pending usage is posted to the ledger. */
  intervalMs: ms.default(1_000),
});

export const otlpSchema = z.strictObject({
  /** The collector's base URL (OTLP/HTTP); spans are POSTed as JSON to <endpoint>/v1/traces. */
  endpoint: z.string().regex(/^https?:\/\//, 'must be an http(s) URL'),
  /** Extra headers for the collector (an API key, say). */
  headers: z.record(z.string(), z.string()).default({}),
  /** The service.name resource attribute of every span. */
  serviceName: z.string().min(1).default('entente'),
  /** Spans are sent at least this often. */
  flushIntervalMs: ms.default(1_000),
  /** Spans per export request at most. */
  maxBatch: z.number().int().min(1).max(10_000).default(512),
  /** Spans waiting for export at most; past it the oldest are dropped (and counted). */
  maxQueue: z.number().int().min(1).default(20_000),
});

export const observabilitySchema = z.strictObject({
  /** OpenTelemetry traces over OTLP; off when absent. */
  otlp: otlpSchema.optional(),
  /** One structured JSON line per request (request id, route, status, tokens, latency). */
  accessLog: z.boolean().default(true),
  /** Put the request's messages in the access log. Off: prompts and completions are never logged. */
  logPrompts: z.boolean().default(false),
  /** Prometheus metrics at /metrics. */
  metrics: z.boolean().default(true),
});

export const usageSchema = z.strictObject({
  /** Records stored (and posted to the ledger) per database transaction, off the event loop. */
  batchSize: z.number().int().min(1).max(10_000).default(2_000),
  /**
   * How long the spool writer waits to gather a batch before storing it. The records are durable
   * in the spool meanwhile; a longer wait makes bigger batches, which cost the writer less per
   * record (at 7,000 requests/s, 100 ms instead of 20 cut its CPU per request by about 16%).
   */
  flushIntervalMs: ms.default(100),
  /**
   * What a finished request's usage record survives before the client's answer is complete:
   * `process` (default) a crash of the gateway process (the record is in the kernel before the
   * last byte is sent; an OS crash or power loss can lose the last fsyncIntervalMs); `os` also an
   * OS crash (the answer's last byte waits for the group commit's fsync).
   */
  durability: z.enum(['process', 'os']).default('process'),
  /**
   * Group commit: the spool is fsync'd at most this often while records arrive. With durability
   * `process` this is the most an OS crash can lose; a longer interval costs less CPU under load
   * (50 instead of 5 gave ×1.09 requests/s at saturation on the benchmark VM; docs/usage-path.md).
   */
  fsyncIntervalMs: z.number().int().min(1).max(1_000).default(5),
  /**
   * The spool writer thread's nice value (Linux; 0–19): when the gateway's CPU is contended, the
   * thread that serves requests runs first and the writer stores and posts in larger batches. At
   * 5 the writer still gets about a quarter of a contended core, more than posting needs at
   * saturation. Unset: 5 with durability `process`, 0 with `os` (there each answer's last byte
   * waits for the writer's fsync).
   */
  writerNice: z.number().int().min(0).max(19).optional(),
  /** Records spooled but not yet stored; past this, new requests get 503 usage_backlog_full. */
  maxBacklogRecords: z.number().int().min(100).max(10_000_000).default(200_000),
  /** A spool segment file is sealed and a new one started past this size. */
  segmentBytes: z.number().int().min(65_536).max(1_073_741_824).default(16_777_216),
});

export const clusterSchema = z.strictObject({
  /** redis://… : health, cooldowns and change notifications shared by every node; unset or '' = one node. */
  redisUrl: z.string().optional(),
  /** Prefix of every Redis key and channel, so several fleets (or tests) can share one Redis. */
  namespace: id.default('entente'),
  /** This node's id in the registry; default `<hostname>:<port>`. */
  nodeId: id.optional(),
  /** How often a node writes its heartbeat to the registry. */
  heartbeatMs: ms.default(2_000),
  /**
   * Nodes other than the one that saw a deployment fail wait this much longer before probing it,
   * so recovery is probed by one node, not by all at once.
   */
  probeGraceMs: ms.default(1_000),
});

// Capacity: provisioned pools (src/capacity/ compiles them and orders routes by them).
const instantString = z
  .string()
  .refine((v) => !Number.isNaN(Date.parse(v)), 'must be an ISO-8601 date or instant');
const decimal = z
  .string()
  .regex(/^\d{1,12}(\.\d{1,6})?$/, 'must be a decimal amount with at most 6 decimals');

export const poolSchema = z.strictObject({
  /** The pool's id (usage records, ledger postings and the agreement's programmes name it). */
  id: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/, 'must be 1–64 of [a-zA-Z0-9._-]'),
  /** The deployments (`<upstream id>/<deployment>`) this capacity serves. */
  deployments: z.array(z.string().regex(/^[^/]+\/.+$/, 'must be <upstream id>/<deployment>')).min(1),
  /** The cloud's unit: Azure PTU, Bedrock model units, Vertex GSU, or plain tokens per minute. */
  unit: z.enum(['ptu', 'model-units', 'gsu', 'tokens-per-minute']),
  /** How many units were bought. */
  size: z.number().positive(),
  /** Tokens per minute one unit serves for these models (the cloud's published throughput). */
  tokensPerMinutePerUnit: z.number().int().positive().default(1),
  /** Admit up to this share of the capacity; the rest spills over. */
  targetUtilization: z.number().gt(0).max(1).optional(),
  /** When the reservation runs; outside it the pool's deployments are pay-as-you-go. */
  term: z.strictObject({
    /** The first instant of the term. */
    from: instantString,
    /** The instant it ends (exclusive); unset: open-ended. */
    to: instantString.optional(),
  }),
  /** What the pool costs: a fixed amount per month (reserved), whatever it serves. */
  cost: z.strictObject({
    /** In major units of the price books' currency, e.g. "26000.00"; posted to the ledger monthly. */
    fixedPerMonth: decimal,
  }),
  /** The accelerator the capacity runs on (nvidia-gb200, trainium2, tpu-v6e…), for reports. */
  accelerator: z.string().min(1).optional(),
  /** The datacenter or site, for reports and the joint programmes. */
  datacenter: z.string().min(1).optional(),
  /** Where a full pool spills: another pool's id; unset = pay-as-you-go in cost order. */
  overflow: z.string().min(1).optional(),
  /**
   * Azure PTU only: a standard deployment in the same Azure resource that Azure itself spills
   * this pool's overflow to. Entente names it on every pooled request (x-ms-spillover-deployment).
   */
  spilloverDeployment: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be an Azure deployment name')
    .optional(),
  /**
   * Bedrock only: the service tier the pool's requests ask for (`reserved`: Bedrock serves from the
   * reservation and overflows to the standard tier by itself, and says which in its answer).
   */
  serviceTier: z.enum(['reserved', 'priority', 'default', 'flex']).optional(),
});

export const capacitySchema = z.strictObject({
  /** Fill fixed-cost pools up to this share of their capacity, then spill over. */
  targetUtilization: z.number().gt(0).max(1).default(0.9),
  /** The provisioned pools. */
  pools: z.array(poolSchema).default([]),
});

// Limits: see src/limits/rules.ts for how rules are compiled and matched.
const limitInt = z.number().int().positive();
const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD');

/** `day` and `month` are UTC calendar periods; `{days, from}` a run of N-day periods from a date. */
export const budgetPeriodSchema = z.union([
  z.enum(['day', 'month']),
  z.strictObject({
    /** The length of each period in days. */
    days: z.number().int().min(1).max(366),
    /** The first day of the first period (UTC). */
    from: day,
  }),
]);

export const budgetSchema = z.strictObject({
  /** In major units of the ledger's currency, e.g. "250.00" (at most 6 decimals). */
  amount: z
    .string()
    .regex(/^\d{1,12}(\.\d{1,6})?$/, 'must be a decimal amount with at most 6 decimals, e.g. "250.00"')
    .refine((s) => /[1-9]/.test(s), 'a budget is more than zero'),
  /** `day` or `month` (UTC calendar periods), or `{days: N, from: YYYY-MM-DD}`: runs of N days. */
  period: budgetPeriodSchema,
  /** Fractions of the budget at which an alert is logged and counted (each once per period). */
  alertAt: z.array(z.number().gt(0).max(1)).max(10).default([0.8, 1]),
});

/** What one rule caps; at least one of them. */
export const limitAmountsSchema = z.strictObject({
  /** Requests admitted in any 60 s (a sliding window). */
  requestsPerMinute: limitInt.optional(),
  /** Tokens (input + output, each request's worst case until it settles) in any 60 s. */
  tokensPerMinute: limitInt.optional(),
  /** Requests in flight at once. */
  concurrentRequests: limitInt.optional(),
  /** Money per period, in the ledger's currency (requests are refused once it is spent). */
  budget: budgetSchema.optional(),
});

const hasOne = (a: z.infer<typeof limitAmountsSchema>) =>
  a.requestsPerMinute !== undefined ||
  a.tokensPerMinute !== undefined ||
  a.concurrentRequests !== undefined ||
  a.budget !== undefined;

const idPattern = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/;

export const ruleSchema = limitAmountsSchema
  .extend({
    /** The rule's id (refusals and metrics name it). */
    id: z.string().regex(idPattern, 'must be 1–64 of [a-zA-Z0-9._-], starting with a letter or digit'),
    /** Which requests the rule counts: all that match every field given. */
    scope: z
      .strictObject({
        /** A key's id. */
        key: z.string().min(1).optional(),
        /** A tenant's id. */
        tenant: z.string().min(1).optional(),
        /** A public model name. */
        model: z.string().min(1).optional(),
      })
      .refine((s) => s.key !== undefined || s.tenant !== undefined || s.model !== undefined, {
        message: 'name a key, a tenant or a model (or a pair of them)',
      }),
  })
  .refine(hasOne, {
    message: 'set at least one of requestsPerMinute, tokensPerMinute, concurrentRequests, budget',
  });

/** A key's own limits: for the key, and per model for key × model. */
export const keyLimitsSchema = limitAmountsSchema
  .extend({
    models: z
      .record(z.string().min(1), limitAmountsSchema.refine(hasOne, { message: 'set at least one limit' }))
      .optional(),
  })
  .refine((k) => hasOne(k) || (k.models !== undefined && Object.keys(k.models).length > 0), {
    message: 'set at least one limit',
  });

export const limitsSchema = z.strictObject({
  /** Limits on a scope: a key, a tenant, a model, or a key × model or tenant × model pair. */
  rules: z.array(ruleSchema).default([]),
  /**
   * Worst-case output tokens reserved for a request that names no max_tokens. The request is sent
   * upstream with this max_tokens (stated in the x-entente-max-tokens header), so the reservation
   * is a true worst case; 0 = never set it (and reserve nothing for output: limits can be passed).
   */
  defaultMaxTokens: z.number().int().min(0).max(1_000_000).default(4_096),
  /** A reservation that is neither settled nor cancelled within this frees itself (a dead node's). */
  reservationTtlMs: limitInt.default(900_000), // 15 min: longer than server.streamMaxDurationMs
  /**
   * With Redis down: `fail-closed` refuses requests that a limit governs (503 limits_unavailable);
   * `local-share` admits against a local counter of limit ÷ live nodes.
   */
  onRedisDown: z.enum(['fail-closed', 'local-share']).default('fail-closed'),
  /** How often budget counters are compared with the ledger (and raised to it when behind). */
  reconcileMs: limitInt.default(60_000),
  /**
   * Every this many reconciles, every budget rule is compared with the ledger; the passes between
   * compare only the rules whose booked spend moved since their last comparison.
   */
  reconcileFullEvery: limitInt.max(1_000).default(10),
});

export const configSchema = z
  .strictObject({
    /**
     * Where the embedded database and the usage spool live, relative to the working directory.
     * Env ENTENTE_DATA_DIR and --data-dir override it; DATABASE_URL puts the store in PostgreSQL.
     */
    dataDir: z.string().default('./data'),
    /** The HTTP server: address, limits, timeouts, admin key. */
    server: serverSchema.default(serverSchema.parse({})),
    /** How requests are routed and failed over. */
    routing: routingSchema,
    /** Simulated clouds started beside the gateway (demos and tests). */
    simulators: z.array(simulatorSchema).default([]),
    /** The clouds' endpoints and credentials. */
    upstreams: z.array(upstreamSchema).min(1),
    /** The catalog: public model names and their deployments. */
    models: z.array(modelSchema).min(1),
    /** Who may call, and with which keys. */
    tenants: z.array(tenantSchema).default([]),
    /** The usage path: spool, group commit, batches, back-pressure. */
    usage: usageSchema.default(usageSchema.parse({})),
    /** The partnership agreement enforced on traffic; none: every deployment may serve. */
    agreement: agreementRefSchema.optional(),
    /** Metering: prices, the ledger, revenue shares; none: usage is recorded, not priced. */
    ledger: ledgerSchema.optional(),
    /** Logs, metrics, traces. */
    observability: observabilitySchema.default(observabilitySchema.parse({})),
    /** A fleet of nodes: Redis for shared state and change notifications. */
    cluster: clusterSchema.default(clusterSchema.parse({})),
    /** Rate limits and budgets (keys' own limits are set with `entente keys limits`). */
    limits: limitsSchema.optional(),
    /** Provisioned capacity pools (docs/capacity.md). */
    capacity: capacitySchema.optional(),
  })
  .superRefine((cfg, ctx) => {
    const dup = (items: readonly { id?: string; name?: string }[], key: 'id' | 'name', path: string) => {
      const seen = new Set<string>();
      items.forEach((it, i) => {
        const v = it[key]!;
        if (seen.has(v))
          ctx.addIssue({ code: 'custom', path: [path, i, key], message: `duplicate ${key} '${v}'` });
        seen.add(v);
      });
    };
    dup(cfg.upstreams, 'id', 'upstreams');
    dup(cfg.models, 'name', 'models');
    dup(cfg.tenants, 'id', 'tenants');
    dup(cfg.simulators, 'id', 'simulators');
    const upstreams = new Map(cfg.upstreams.map((u) => [u.id, u]));
    const sims = new Set(cfg.simulators.map((s) => s.id));
    cfg.upstreams.forEach((u, i) => {
      if (u.baseUrl.startsWith('sim://') && !sims.has(u.baseUrl.slice(6))) {
        ctx.addIssue({
          code: 'custom',
          path: ['upstreams', i, 'baseUrl'],
          message: `no simulator '${u.baseUrl.slice(6)}' in simulators`,
        });
      }
      if (u.provider === 'azure-openai' && u.azurePathStyle === 'deployments' && !u.apiVersion) {
        ctx.addIssue({
          code: 'custom',
          path: ['upstreams', i, 'apiVersion'],
          message: 'Azure classic paths need apiVersion (e.g. 2024-10-21), or set azurePathStyle: v1',
        });
      }
      const aws = u.auth !== undefined && ('awsAccessKeyId' in u.auth || 'awsAccessKeyIdEnv' in u.auth);
      if (aws && u.provider !== 'bedrock' && u.provider !== 'anthropic-bedrock') {
        ctx.addIssue({
          code: 'custom',
          path: ['upstreams', i, 'auth'],
          message: `AWS credentials sign Bedrock requests only; provider ${u.provider} takes an API key`,
        });
      }
      const google = u.auth !== undefined && 'googleServiceAccountFile' in u.auth;
      if (google && u.provider !== 'vertex' && u.provider !== 'anthropic-vertex') {
        ctx.addIssue({
          code: 'custom',
          path: ['upstreams', i, 'auth'],
          message: `a Google service account authenticates Vertex only; provider ${u.provider} takes an API key`,
        });
      }
      if ((u.provider === 'vertex' || u.provider === 'anthropic-vertex') && !u.project) {
        ctx.addIssue({
          code: 'custom',
          path: ['upstreams', i, 'project'],
          message: 'Vertex upstreams need project (the Google Cloud project id); region is the location',
        });
      }
      if ((u.provider === 'bedrock' || u.provider === 'anthropic-bedrock') && !u.auth) {
        ctx.addIssue({
          code: 'custom',
          path: ['upstreams', i, 'auth'],
          message:
            'Bedrock upstreams need auth: AWS credentials (awsAccessKeyIdEnv, awsSecretAccessKeyEnv) or a Bedrock API key',
        });
      }
    });
    if (!cfg.upstreams.some((u) => u.cloud === cfg.routing.primaryCloud)) {
      ctx.addIssue({
        code: 'custom',
        path: ['routing', 'primaryCloud'],
        message: `no upstream is on cloud '${cfg.routing.primaryCloud}'`,
      });
    }
    cfg.models.forEach((m, i) => {
      m.deployments.forEach((d, j) => {
        if (!upstreams.has(d.upstream)) {
          ctx.addIssue({
            code: 'custom',
            path: ['models', i, 'deployments', j, 'upstream'],
            message: `unknown upstream '${d.upstream}'`,
          });
        }
      });
    });
    const modelNames = new Set(cfg.models.map((m) => m.name));
    const keyIds = new Set<string>();
    const hashes = new Set<string>();
    cfg.tenants.forEach((t, i) => {
      t.keys.forEach((k, j) => {
        if (keyIds.has(k.id))
          ctx.addIssue({
            code: 'custom',
            path: ['tenants', i, 'keys', j, 'id'],
            message: `duplicate key id '${k.id}'`,
          });
        if (hashes.has(k.sha256))
          ctx.addIssue({
            code: 'custom',
            path: ['tenants', i, 'keys', j, 'sha256'],
            message: 'the same key is configured twice',
          });
        keyIds.add(k.id);
        hashes.add(k.sha256);
        k.models.forEach((m, n) => {
          if (m !== '*' && !modelNames.has(m)) {
            ctx.addIssue({
              code: 'custom',
              path: ['tenants', i, 'keys', j, 'models', n],
              message: `unknown model '${m}'`,
            });
          }
        });
      });
    });
    checkLimits(cfg, ctx);
    checkPools(cfg, ctx);
  });

type ConfigShape = z.infer<typeof configSchema>;

/** A pool names deployments of the catalog, each in one pool at most; overflow names a pool. */
function checkPools(cfg: ConfigShape, ctx: z.RefinementCtx): void {
  const pools = cfg.capacity?.pools ?? [];
  const keys = new Set(cfg.models.flatMap((m) => m.deployments.map((d) => `${d.upstream}/${d.deployment}`)));
  const ids = new Set(pools.map((p) => p.id));
  const upstreams = new Map(cfg.upstreams.map((u) => [u.id, u]));
  const owner = new Map<string, string>();
  pools.forEach((p, i) => {
    const at = (...x: (string | number)[]) => ['capacity', 'pools', i, ...x];
    if (pools.findIndex((q) => q.id === p.id) !== i)
      ctx.addIssue({ code: 'custom', path: at('id'), message: `duplicate pool id '${p.id}'` });
    p.deployments.forEach((d, j) => {
      if (!keys.has(d))
        ctx.addIssue({
          code: 'custom',
          path: at('deployments', j),
          message: `no deployment '${d}' in the catalog`,
        });
      const other = owner.get(d);
      if (other)
        ctx.addIssue({
          code: 'custom',
          path: at('deployments', j),
          message: `'${d}' is already in pool '${other}'`,
        });
      owner.set(d, p.id);
    });
    if (p.overflow !== undefined && (!ids.has(p.overflow) || p.overflow === p.id))
      ctx.addIssue({
        code: 'custom',
        path: at('overflow'),
        message: `overflow names no other pool: '${p.overflow}'`,
      });
    const notAzure = p.deployments.find((d) => upstreams.get(d.split('/')[0]!)?.provider !== 'azure-openai');
    if (p.spilloverDeployment !== undefined && notAzure !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: at('spilloverDeployment'),
        message: `a spill-over deployment is Azure's: '${notAzure}' is not on an azure-openai upstream`,
      });
    const notBedrock = p.deployments.find((d) => upstreams.get(d.split('/')[0]!)?.provider !== 'bedrock');
    if (p.serviceTier !== undefined && notBedrock !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: at('serviceTier'),
        message: `a service tier is Bedrock's: '${notBedrock}' is not on a bedrock upstream`,
      });
    if (p.term.to !== undefined && Date.parse(p.term.to) <= Date.parse(p.term.from))
      ctx.addIssue({ code: 'custom', path: at('term', 'to'), message: 'the term ends after it starts' });
  });
}

/** Limit rules name tenants and models of this config, each id once; a budget needs the ledger's prices. */
function checkLimits(cfg: Omit<ConfigShape, never>, ctx: z.RefinementCtx): void {
  const rules = cfg.limits?.rules ?? [];
  const tenants = new Set(cfg.tenants.map((t) => t.id));
  const models = new Set(cfg.models.map((m) => m.name));
  const ids = new Set<string>();
  rules.forEach((r, i) => {
    const at = (...p: (string | number)[]) => ['limits', 'rules', i, ...p];
    if (ids.has(r.id))
      ctx.addIssue({ code: 'custom', path: at('id'), message: `duplicate rule id '${r.id}'` });
    ids.add(r.id);
    if (r.scope.tenant !== undefined && !tenants.has(r.scope.tenant))
      ctx.addIssue({
        code: 'custom',
        path: at('scope', 'tenant'),
        message: `unknown tenant '${r.scope.tenant}'`,
      });
    if (r.scope.model !== undefined && !models.has(r.scope.model))
      ctx.addIssue({
        code: 'custom',
        path: at('scope', 'model'),
        message: `unknown model '${r.scope.model}'`,
      });
    if (r.budget && !cfg.ledger)
      ctx.addIssue({
        code: 'custom',
        path: at('budget'),
        message: "a budget is money in the ledger's currency: configure ledger.priceBooks",
      });
  });
}

export type Config = z.infer<typeof configSchema>;
export type LimitsConfig = z.infer<typeof limitsSchema>;
export type CapacityConfig = z.infer<typeof capacitySchema>;
export type PoolConfig = z.infer<typeof poolSchema>;
export type KeyLimits = z.infer<typeof keyLimitsSchema>;
export type LimitAmounts = z.infer<typeof limitAmountsSchema>;
export type BudgetPeriod = z.infer<typeof budgetPeriodSchema>;
export type UpstreamConfig = z.infer<typeof upstreamSchema>;
export type ModelConfig = z.infer<typeof modelSchema>;
export type DeploymentConfig = z.infer<typeof deploymentSchema>;
export type SimulatorConfig = z.infer<typeof simulatorSchema>;
export type TenantConfig = z.infer<typeof tenantSchema>;
