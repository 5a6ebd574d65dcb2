// The agreement file: parties, and versions (the original and each amendment) with their terms.
// Each version carries its complete terms, so "as of" needs no merging and a diff is a plain
// comparison. Times are ISO-8601 instants in UTC; intervals are half-open [from, to).
// Vocabulary from W3C ODRL 2.2 (assigner/assignee → licensor/licensee) plus exclusivity and
// carve-outs; docs/agreements.md.
import { z } from 'zod';

const id = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be 1-64 characters of a-z, 0-9, dot, dash, underscore');
const INSTANT = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/;

/**
 * An ISO-8601 date or instant with a time zone, as epoch milliseconds. Each field is checked for
 * range, so an impossible date (February 30, hour 24) is an error, never silently rolled over.
 */
export const instant = z.union([z.string(), z.date()]).transform((v, ctx) => {
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) {
      ctx.addIssue({ code: 'custom', message: 'is not a valid date', params: { code: 'invalid_date' } });
      return z.NEVER;
    }
    return v.getTime();
  }
  const m = INSTANT.exec(v);
  if (!m) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be an ISO-8601 date or instant with a time zone, e.g. 2026-04-27T00:00:00Z',
      params: { code: 'invalid_date' },
    });
    return z.NEVER;
  }
  const [y, mo, d, h = '0', mi = '0', s = '0'] = m.slice(1) as string[];
  const day = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  const dayOk =
    day.getUTCFullYear() === Number(y) &&
    day.getUTCMonth() === Number(mo) - 1 &&
    day.getUTCDate() === Number(d);
  const offset = m[7] && m[7] !== 'Z' ? m[7] : null;
  const offsetOk = !offset || (Number(offset.slice(1, 3)) <= 23 && Number(offset.slice(4, 6)) <= 59);
  if (!dayOk || Number(h) > 23 || Number(mi) > 59 || Number(s) > 59 || !offsetOk) {
    ctx.addIssue({
      code: 'custom',
      message: `'${v}' is not a date that exists (check the day of the month and the time)`,
      params: { code: 'invalid_date' },
    });
    return z.NEVER;
  }
  return Date.parse(v);
});

/** An exact ratio: "20/100", "0.2" or "1/5". Never a float. */
export const ratio = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const s = String(v).trim();
  let m = /^(\d+)\s*\/\s*(\d+)$/.exec(s);
  if (m) {
    if (BigInt(m[2]!) === 0n) {
      ctx.addIssue({ code: 'custom', message: 'the denominator must not be 0' });
      return z.NEVER;
    }
    return { num: BigInt(m[1]!), den: BigInt(m[2]!) };
  }
  m = /^(\d+)(?:\.(\d+))?$/.exec(s);
  if (m) {
    const frac = m[2] ?? '';
    return { num: BigInt(m[1]! + frac), den: 10n ** BigInt(frac.length) };
  }
  ctx.addIssue({ code: 'custom', message: `must be an exact ratio such as "20/100" or "0.2", got '${s}'` });
  return z.NEVER;
});
export type Ratio = { readonly num: bigint; readonly den: bigint };

/** A money amount in major units as a decimal string ("1000000.50"), held as bigint micro-units. */
const money = z.string().transform((s, ctx) => {
  const m = /^(\d+)(?:\.(\d{1,6}))?$/.exec(s.replaceAll('_', ''));
  if (!m) {
    ctx.addIssue({ code: 'custom', message: `must be a decimal amount with at most 6 decimals, got '${s}'` });
    return z.NEVER;
  }
  return BigInt(m[1]!) * 1_000_000n + BigInt((m[2] ?? '').padEnd(6, '0'));
});

const term = z.strictObject({ from: instant, to: instant.optional() });

/** The API surfaces a request can arrive on; product grants and revenue bases name them. */
export const SURFACES = ['chat', 'responses', 'embeddings'] as const;
export type Surface = (typeof SURFACES)[number];

/** Model selectors: catalog model names, where `*` matches any run of characters. */
const modelSelectors = z.array(z.string().min(1)).min(1);

const condition = z.discriminatedUnion('kind', [
  /** The grant ends at the instant an AGI declaration, verified by the expert panel, is entered. */
  z.strictObject({ kind: z.literal('until-agi-verified'), note: z.string().optional() }),
  /** The grant ends at `until` (when that is earlier than its term's end). */
  z.strictObject({ kind: z.literal('until-date'), until: instant, note: z.string().optional() }),
  /** Recorded and reported; no event of the gateway's can decide it, so it gates nothing. */
  z.strictObject({ kind: z.literal('custom'), note: z.string().min(1) }),
]);
export type Condition = z.output<typeof condition>;

export const licenceSchema = z
  .strictObject({
    id,
    licensor: id,
    licensee: id,
    /**
     * models: the licensee's keys may call the models selected. products: the licensee may use
     * the API surfaces named in `products`. research-ip: recorded and reported, gates no traffic.
     */
    subject: z.enum(['models', 'products', 'research-ip']),
    models: modelSelectors,
    /** For a products grant: the API surfaces it grants. */
    products: z.array(z.enum(SURFACES)).min(1).optional(),
    term,
    exclusivity: z.enum(['exclusive', 'sole', 'non-exclusive']),
    conditions: z.array(condition).default([]),
    note: z.string().optional(),
  })
  .superRefine((l, ctx) => {
    if (l.subject === 'products' && !l.products)
      ctx.addIssue({
        code: 'custom',
        path: ['products'],
        message: 'a products grant names the API surfaces it grants, e.g. products: [chat, responses]',
        params: { code: 'products_missing' },
      });
    if (l.subject !== 'products' && l.products)
      ctx.addIssue({
        code: 'custom',
        path: ['products'],
        message: `products applies to subject: products only; this grant's subject is ${l.subject}`,
        params: { code: 'products_not_applicable' },
      });
  });

/**
 * Which priced usage a revenue share is computed on. `seller` is the party whose revenue it is
 * (each tenant belongs to a party); every other field narrows the base, and an absent field does
 * not narrow it.
 */
export const revenueBaseSchema = z.strictObject(
  {
    seller: id,
    /** Only models owned by these parties (the catalog's ownedBy). */
    ownedBy: z.array(id).min(1).optional(),
    models: modelSelectors.optional(),
    /** Only usage served on these clouds. */
    clouds: z.array(id).min(1).optional(),
    surfaces: z.array(z.enum(SURFACES)).min(1).optional(),
    tenants: z.array(id).min(1).optional(),
    note: z.string().optional(),
  },
  {
    error: (issue) =>
      issue.code === 'invalid_type'
        ? 'a revenue base is a filter over priced usage, e.g. { seller: openai, ownedBy: [openai] }; a bare label filters nothing'
        : undefined,
  },
);
export type RevenueBase = z.output<typeof revenueBaseSchema>;

export const revenueShareSchema = z.strictObject({
  id,
  payer: id,
  payee: id,
  rate: ratio,
  revenueBase: revenueBaseSchema,
  term,
  cap: z
    .strictObject({
      amount: money,
      currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD'),
    })
    .optional(),
  /** true: no technological milestone (such as an AGI declaration) ends the share. */
  milestoneIndependent: z.boolean(),
  settlementPeriod: z.enum(['monthly', 'quarterly', 'yearly']).default('monthly'),
  refundsAfterCap: z.enum(['reduce-accrual', 'ignore']).default('reduce-accrual'),
  note: z.string().optional(),
});

export const cloudTermSchema = z.strictObject({
  primary: id,
  /** Only the primary may serve (the 2023 and Oct 2025 API exclusivity). */
  exclusive: z.boolean().default(false),
  /** `any`, or the clouds allowed besides the primary. */
  permittedClouds: z.union([z.literal('any'), z.array(id)]).default('any'),
  firstDeployment: z
    .strictObject({
      rule: z.literal('primary-first'),
      minSoakHours: z.number().min(0).default(0),
      /** What a waiver must record before it lifts the rule for a model version. */
      waiverRequires: z
        .array(z.enum(['primary-cannot-support', 'partner-declined']))
        .default(['primary-cannot-support', 'partner-declined']),
    })
    .optional(),
});

/** What the agreement covers. A model is in scope when its owner or its name is selected. */
export const scopeSchema = z.strictObject({
  /** Models whose catalog `ownedBy` is one of these parties. */
  ownedBy: z.array(id).default([]),
  /** Models selected by name. */
  models: z.array(z.string().min(1)).default([]),
});
export type Scope = z.output<typeof scopeSchema>;

export const EXEMPTIONS = ['primary-first', 'exclusivity', 'revenue-share'] as const;
export type Exemption = (typeof EXEMPTIONS)[number];

/** A named exemption from some terms, for the models, owners or tenants it selects. */
export const carveOutSchema = z.strictObject({
  id,
  title: z.string().optional(),
  exempts: z.array(z.enum(EXEMPTIONS)).min(1),
  models: modelSelectors.optional(),
  ownedBy: z.array(id).min(1).optional(),
  /** Gateway tenants whose traffic the carve-out covers (national-security work, say). */
  tenants: z.array(id).min(1).optional(),
  note: z.string().optional(),
});
export type CarveOut = z.output<typeof carveOutSchema>;

export const termsSchema = z.strictObject({
  /** Absent: the models owned by the agreement's parties. */
  scope: scopeSchema.optional(),
  cloud: cloudTermSchema,
  carveOuts: z.array(carveOutSchema).default([]),
  licences: z.array(licenceSchema).default([]),
  revenueShares: z.array(revenueShareSchema).default([]),
  equity: z.array(z.strictObject({ holder: id, stake: ratio, note: z.string().optional() })).default([]),
  programmes: z
    .array(
      z.strictObject({
        id,
        kind: z.enum(['datacenter-capacity', 'silicon', 'research', 'other']),
        title: z.string(),
        /** The capacity pools (ids of the gateway's config) this programme bought or builds. */
        pools: z.array(id).max(100).default([]),
        note: z.string().optional(),
      }),
    )
    .default([]),
});

export const versionSchema = z.strictObject({
  id,
  kind: z.enum(['original', 'amendment']),
  title: z.string().optional(),
  supersedes: id.optional(),
  /** Valid time: when the terms take effect. They last until the next version's validFrom. */
  validFrom: instant,
  validTo: instant.optional(),
  /** Transaction time: when the version was recorded (for "as known at" questions). */
  recordedAt: instant,
  sourceRefs: z.array(z.string()).default([]),
  terms: termsSchema,
});

export const agreementSchema = z.strictObject({
  id,
  title: z.string(),
  parties: z.array(z.strictObject({ id, name: z.string(), roles: z.array(z.string()).default([]) })).min(2),
  versions: z.array(versionSchema).min(1),
});

export type Agreement = z.output<typeof agreementSchema>;
export type AgreementVersion = z.output<typeof versionSchema>;
export type Terms = z.output<typeof termsSchema>;
export type Licence = z.output<typeof licenceSchema>;
export type RevenueShare = z.output<typeof revenueShareSchema>;
export type CloudTerm = z.output<typeof cloudTermSchema>;
