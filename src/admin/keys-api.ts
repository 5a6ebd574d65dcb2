// API keys managed live through the admin API: create (the secret is in the answer once and never
// stored: only its SHA-256), rotate (a new key; the old one keeps working for a grace period, then
// expires), revoke, list. Every change is audited, applied on this node at once and announced to
// the fleet. No restart for any of it.
//   GET  /v1/entente/keys                ?limit=1..1000 (100) &after=<id>: a page, and the next's `after`
//   POST /v1/entente/keys                {tenant, id?, models?, expiresAt?, metadata?}
//   POST /v1/entente/keys/rotate/:id     {graceSeconds?}   (default 3600, at most 30 days)
//   POST /v1/entente/keys/revoke/:id
//   POST /v1/entente/keys/limits/:id     {requestsPerMinute?, tokensPerMinute?, concurrentRequests?,
//                                         budget?: {amount, period, alertAt?}, models?: {<model>: {…}}}
//                                         or null to clear: the key's own limits, live
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { adminActor, auditor } from '../audit/index.js';
import { type KeyLimits, keyLimitsSchema } from '../config/index.js';
import { gatewayError } from '../errors/index.js';
import { type Exchange, generateKey, hashKey, readJsonBody, sendError, sendJson } from '../http/index.js';
import { keyBase } from '../limits/index.js';
import { type ApiKeyRecord, keyPage, type Store } from '../store/index.js';
import type { AdminContext } from './context.js';
import { pageOf, refuse } from './query.js';

/** A key id (and a tenant's), as the config and the API accept them. */
export const KEY_ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;

const createSchema = z.strictObject({
  tenant: z.string().regex(KEY_ID, 'must be 1-64 characters of a-z, 0-9, dot, dash, underscore'),
  id: z.string().regex(KEY_ID, 'must be 1-64 characters of a-z, 0-9, dot, dash, underscore').optional(),
  models: z.array(z.string().min(1).max(256)).min(1).max(1000).default(['*']),
  expiresAt: z.string().optional(),
  metadata: z
    .record(z.string().max(64), z.string().max(256))
    .refine((m) => Object.keys(m).length <= 20, 'at most 20 entries')
    .default({}),
  limits: keyLimitsSchema.optional(),
});

/**
 * A rotation, decided once for the admin API and the CLI: the new key's record (id `<base>.rN`,
 * the next N not among `rotations`, the ids the store holds that start with `<base>.r`) and the
 * old key's, which expires at the end of the grace period (or earlier, if it already expired
 * sooner). null when the key is not active.
 */
export function planRotation(
  old: ApiKeyRecord,
  rotations: readonly string[],
  graceS: number,
  nowMs: number,
): { secret: string; fresh: ApiKeyRecord; expiring: ApiKeyRecord } | null {
  if (old.revokedAtMs !== null || (old.expiresAtMs != null && nowMs >= old.expiresAtMs)) return null;
  const base = keyBase(old.id);
  const taken = new Set(rotations);
  let n = 2;
  while (taken.has(`${base}.r${n}`)) n++;
  const secret = generateKey();
  return {
    secret,
    fresh: { ...old, id: `${base}.r${n}`.slice(0, 64), sha256: hashKey(secret), createdAtMs: nowMs },
    expiring: {
      ...old,
      expiresAtMs: Math.min(old.expiresAtMs ?? Number.POSITIVE_INFINITY, nowMs + graceS * 1000),
    },
  };
}

/** planRotation with the ids of the key's earlier rotations read from the store (ids only, not every key). */
export async function planKeyRotation(store: Store, old: ApiKeyRecord, graceS: number, nowMs: number) {
  return planRotation(old, await store.listApiKeyIds(`${keyBase(old.id)}.r`), graceS, nowMs);
}

export const MAX_GRACE_S = 30 * 86_400;

/** What the API shows of a key: never the secret, and only a prefix of its digest. */
function view(k: ApiKeyRecord, nowMs: number) {
  const expired = k.expiresAtMs != null && nowMs >= k.expiresAtMs;
  return {
    id: k.id,
    tenant: k.tenantId,
    models: k.models,
    sha256Prefix: k.sha256.slice(0, 8),
    createdAt: new Date(k.createdAtMs).toISOString(),
    revokedAt: k.revokedAtMs === null ? null : new Date(k.revokedAtMs).toISOString(),
    expiresAt: k.expiresAtMs == null ? null : new Date(k.expiresAtMs).toISOString(),
    status: k.revokedAtMs !== null ? 'revoked' : expired ? 'expired' : 'active',
    metadata: k.metadata ?? {},
    limits: k.limits ?? null,
  };
}

async function changed(c: AdminContext, action: string, subject: string, detail: unknown): Promise<void> {
  await auditor(c.store, c.clock, adminActor(c.config.server.adminKeySha256)).record(action, subject, detail);
  await c.reloadKeys();
  c.announce('keys');
}

const KEYS_PAGE_DEFAULT = 100;
const KEYS_PAGE_MAX = 1_000;

/**
 * One page of keys in id order: `limit` (1–1000, default 100) keys after the id `after`; `next`
 * is the `after` of the next page, null on the last. A platform with 100,000 keys reads a page at
 * a time, never every key in one answer.
 */
export async function listKeys(c: AdminContext, _req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const page = pageOf(res, ex, {
    fallback: KEYS_PAGE_DEFAULT,
    max: KEYS_PAGE_MAX,
    id: KEY_ID,
    idIs: 'a key id',
  });
  if (!page) return;
  const { limit, after } = page;
  const found = await keyPage(c.store, limit, after);
  const now = c.clock.now();
  sendJson(res, 200, { keys: found.keys.map((k) => view(k, now)), next: found.next }, ex.requestId);
}

export async function createKey(c: AdminContext, req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const body = await readJsonBody(req, 65_536);
  if (!body.ok) return sendError(res, body.error, ex.requestId);
  const p = createSchema.safeParse(body.value);
  if (!p.success) {
    const issue = p.error.issues[0]!;
    return refuse(res, ex, `${issue.path.join('.')}: ${issue.message}`, issue.path.join('.') || null);
  }
  const now = c.clock.now();
  const unknown = p.data.models.find((m) => m !== '*' && !c.catalog.has(m));
  if (unknown) return refuse(res, ex, `models: '${unknown}' is not in the catalog`, 'models');
  let expiresAtMs: number | null = null;
  if (p.data.expiresAt !== undefined) {
    expiresAtMs = Date.parse(p.data.expiresAt);
    if (Number.isNaN(expiresAtMs) || expiresAtMs <= now)
      return refuse(res, ex, 'expiresAt must be an ISO-8601 instant in the future', 'expiresAt');
  }
  const limitProblem = p.data.limits ? checkLimits(c, p.data.limits) : null;
  if (limitProblem) return refuse(res, ex, limitProblem, 'limits');
  const secret = generateKey();
  const id = p.data.id ?? `key-${hashKey(secret).slice(0, 12)}`;
  const record: ApiKeyRecord = {
    id,
    tenantId: p.data.tenant,
    sha256: hashKey(secret),
    models: p.data.models,
    createdAtMs: now,
    revokedAtMs: null,
    expiresAtMs,
    metadata: p.data.metadata,
    ...(p.data.limits ? { limits: p.data.limits } : {}),
  };
  // Insert-only: of two creations of one id at once, on any nodes, one wins and the other gets 409
  // (a check first and then an upsert let the second overwrite the first).
  if (!(await c.store.insertApiKey(record)))
    return sendError(
      res,
      gatewayError('invalid_request', `a key with id '${id}' exists`, { param: 'id', status: 409 }),
      ex.requestId,
    );
  await changed(c, 'key.create', id, {
    tenant: record.tenantId,
    models: record.models,
    expiresAt: p.data.expiresAt ?? null,
    limits: p.data.limits ?? null,
  });
  sendJson(res, 201, { ...view(record, now), key: secret }, ex.requestId);
}

async function keyOr404(c: AdminContext, res: ServerResponse, ex: Exchange): Promise<ApiKeyRecord | null> {
  const id = ex.params.id ?? '';
  const k = await c.store.getApiKey(id);
  if (!k) sendError(res, gatewayError('not_found', `No key with id '${id}'.`), ex.requestId);
  return k;
}

export async function rotateKey(c: AdminContext, req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const body = await readJsonBody(req, 65_536);
  if (!body.ok) return sendError(res, body.error, ex.requestId);
  const grace = (body.value as { graceSeconds?: unknown } | null)?.graceSeconds ?? 3600;
  if (typeof grace !== 'number' || !Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE_S)
    return refuse(res, ex, `graceSeconds must be a whole number from 0 to ${MAX_GRACE_S}`, 'graceSeconds');
  const old = await keyOr404(c, res, ex);
  if (!old) return;
  const now = c.clock.now();
  const plan = await planKeyRotation(c.store, old, grace, now);
  if (!plan)
    return sendError(
      res,
      gatewayError('invalid_request', `key '${old.id}' is not active`, { status: 409 }),
      ex.requestId,
    );
  await c.store.putApiKey(plan.fresh);
  await c.store.putApiKey(plan.expiring);
  await changed(c, 'key.rotate', old.id, {
    newId: plan.fresh.id,
    oldKeyExpiresAt: new Date(plan.expiring.expiresAtMs!).toISOString(),
  });
  sendJson(
    res,
    201,
    { ...view(plan.fresh, now), key: plan.secret, previous: view(plan.expiring, now) },
    ex.requestId,
  );
}

export async function revokeKey(c: AdminContext, _req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const k = await keyOr404(c, res, ex);
  if (!k) return;
  const now = c.clock.now();
  if (!(await c.store.revokeApiKey(k.id, now)))
    return sendError(
      res,
      gatewayError('invalid_request', `key '${k.id}' was already revoked`, { status: 409 }),
      ex.requestId,
    );
  await changed(c, 'key.revoke', k.id, {});
  sendJson(res, 200, view({ ...k, revokedAtMs: now }, now), ex.requestId);
}

/** A key's limits name catalog models; a budget is money, so it needs the ledger's prices. */
function checkLimits(c: AdminContext, limits: KeyLimits): string | null {
  const unknown = Object.keys(limits.models ?? {}).find((m) => !c.catalog.has(m));
  if (unknown) return `limits.models: '${unknown}' is not in the catalog`;
  const budgeted = limits.budget !== undefined || Object.values(limits.models ?? {}).some((m) => m.budget);
  if (budgeted && !c.priceBooks) return 'limits: a budget needs the ledger (ledger.priceBooks in the config)';
  return null;
}

export async function setKeyLimits(c: AdminContext, req: IncomingMessage, res: ServerResponse, ex: Exchange) {
  const body = await readJsonBody(req, 65_536);
  if (!body.ok) return sendError(res, body.error, ex.requestId);
  let limits: KeyLimits | null = null;
  if (body.value !== null) {
    const p = keyLimitsSchema.safeParse(body.value);
    if (!p.success) {
      const issue = p.error.issues[0]!;
      return refuse(
        res,
        ex,
        `${issue.path.join('.') || 'limits'}: ${issue.message}`,
        issue.path.join('.') || null,
      );
    }
    limits = p.data;
    const problem = checkLimits(c, limits);
    if (problem) return refuse(res, ex, problem, 'limits');
  }
  const k = await keyOr404(c, res, ex);
  if (!k) return;
  const { limits: _old, ...rest } = k;
  const record: ApiKeyRecord = limits ? { ...rest, limits } : rest;
  await c.store.putApiKey(record);
  await changed(c, 'key.limits', k.id, { limits });
  sendJson(res, 200, view(record, c.clock.now()), ex.requestId);
}
