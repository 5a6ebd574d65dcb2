// `--rpm`, `--tpm`, `--concurrent` and `--budget AMOUNT/PERIOD` of `entente keys create` and
// `entente keys limits`: a key's own limits, checked by the same schema as the admin API's.
import { type KeyLimits, keyLimitsSchema } from '../config/index.js';

export interface LimitFlags {
  readonly rpm?: string | undefined;
  readonly tpm?: string | undefined;
  readonly concurrent?: string | undefined;
  readonly budget?: string | undefined;
}

/** The limits the flags name (null: none), or the reason they are invalid. */
export function limitsFromFlags(f: LimitFlags): { limits: KeyLimits | null } | { problem: string } {
  const raw: Record<string, unknown> = {};
  const int = (v: string | undefined) =>
    v === undefined ? undefined : /^\d+$/.test(v) ? Number(v) : Number.NaN;
  if (f.rpm !== undefined) raw.requestsPerMinute = int(f.rpm);
  if (f.tpm !== undefined) raw.tokensPerMinute = int(f.tpm);
  if (f.concurrent !== undefined) raw.concurrentRequests = int(f.concurrent);
  if (f.budget !== undefined) {
    const m = /^([^/]+)\/(day|month)$/.exec(f.budget);
    if (!m)
      return { problem: `--budget '${f.budget}' must be AMOUNT/day or AMOUNT/month, e.g. 250.00/month` };
    raw.budget = { amount: m[1], period: m[2] };
  }
  if (Object.keys(raw).length === 0) return { limits: null };
  const p = keyLimitsSchema.safeParse(raw);
  if (!p.success) {
    const issue = p.error.issues[0]!;
    const flag = {
      requestsPerMinute: '--rpm',
      tokensPerMinute: '--tpm',
      concurrentRequests: '--concurrent',
      budget: '--budget',
    }[String(issue.path[0]) as 'budget'];
    return { problem: `${flag ?? 'limits'}: ${issue.message}` };
  }
  return { limits: p.data };
}
