// The agreement file: parties, and versions (the original and each amendment) with their terms.
// Each version carries its complete terms, so "as of" needs no merging and a diff is a plain
// comparison. Times are ISO-8601 instants in UTC; intervals are half-open [from, to).
// Vocabulary from W3C ODRL 2.2 (assigner/assignee → licensor/licensee) plus exclusivity and
// carve-outs; docs/agreements.md.
import { z } from 'zod';

const id = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'must be 1-64 characters of a-z, 0-9, dot, dash, underscore');
export const instant = z.union([z.string(), z.date()]).transform((v, ctx) => {
  const ms = v instanceof Date ? v.getTime() : Date.parse(v);
  if (
    typeof v === 'string' &&
    !/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?$/.test(v)
  ) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be an ISO-8601 date or instant with a time zone, e.g. 2026-04-27T00:00:00Z',
    });
    return z.NEVER;
  }
  if (Number.isNaN(ms)) {
    ctx.addIssue({ code: 'custom', message: 'is not a valid date' });
    return z.NEVER;
  }
  return ms;
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

const condition = z.strictObject({
  kind: z.enum(['until-agi-verified', 'until-date', 'custom']),
  note: z.string().optional(),
});

export const licenceSchema = z.strictObject({
  id,
  licensor: id,
  licensee: id,
  subject: z.enum(['models', 'products', 'research-ip']),
  /** Catalog model names; `*` matches any run of characters ("gpt-*"). */
  models: z.array(z.string().min(1)).min(1),
  term,
  exclusivity: z.enum(['exclusive', 'sole', 'non-exclusive']),
  conditions: z.array(condition).default([]),
  carveOuts: z.array(z.string()).default([]),
  note: z.string().optional(),
});

export const revenueShareSchema = z.strictObject({
  id,
  payer: id,
  payee: id,
  rate: ratio,
  revenueBase: z.string().min(1),
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
  carveOuts: z.array(z.string()).default([]),
});

export const termsSchema = z.strictObject({
  cloud: cloudTermSchema,
  licences: z.array(licenceSchema).default([]),
  revenueShares: z.array(revenueShareSchema).default([]),
  equity: z.array(z.strictObject({ holder: id, stake: ratio, note: z.string().optional() })).default([]),
  programmes: z
    .array(
      z.strictObject({
        id,
        kind: z.enum(['datacenter-capacity', 'silicon', 'research', 'other']),
        title: z.string(),
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
