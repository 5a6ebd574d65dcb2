// Semantic validation of an agreement, after its shape has passed zod. Each finding has a stable
// code, the path in the document, and a message that says how to fix it.
import type { DocPath } from '../config/index.js';
import type { Agreement, Licence } from './schema.js';
import { globMatches } from './select-models.js';

export interface Finding {
  readonly code:
    | 'unknown_party'
    | 'duplicate_id'
    | 'inverted_interval'
    | 'overlapping_versions'
    | 'versions_out_of_order'
    | 'unknown_version'
    | 'exclusive_overlap'
    | 'rate_out_of_range'
    | 'stake_out_of_range'
    | 'cloud_not_permitted'
    | 'revenue_base_seller_mismatch'
    | 'carve_out_selects_nothing'
    | 'unknown_cloud'
    | 'unknown_pool';
  readonly path: DocPath;
  readonly message: string;
}

const end = (to: number | undefined) => to ?? Number.POSITIVE_INFINITY;
const iso = (ms: number) => new Date(ms).toISOString();

/** Two model selector lists may select a common model (conservatively: globs are compared as patterns). */
function selectorsIntersect(a: readonly string[], b: readonly string[]): boolean {
  return a.some((x) =>
    b.some((y) => x === y || globMatches(x, y) || globMatches(y, x) || (x.includes('*') && y.includes('*'))),
  );
}

function termsOverlap(a: Licence, b: Licence): boolean {
  return a.term.from < end(b.term.to) && b.term.from < end(a.term.to);
}

export function validateAgreement(a: Agreement): Finding[] {
  const out: Finding[] = [];
  const parties = new Set<string>();
  a.parties.forEach((p, i) => {
    if (parties.has(p.id))
      out.push({
        code: 'duplicate_id',
        path: ['parties', i, 'id'],
        message: `party id '${p.id}' is used twice; each party needs its own id`,
      });
    parties.add(p.id);
  });
  const party = (pid: string, path: DocPath) => {
    if (!parties.has(pid))
      out.push({
        code: 'unknown_party',
        path,
        message: `no party '${pid}' in parties (known: ${[...parties].join(', ')})`,
      });
  };
  const seen = new Set<string>();
  a.versions.forEach((v, i) => {
    if (seen.has(v.id))
      out.push({
        code: 'duplicate_id',
        path: ['versions', i, 'id'],
        message: `version id '${v.id}' is used twice`,
      });
    seen.add(v.id);
    if (v.validTo !== undefined && v.validTo <= v.validFrom) {
      out.push({
        code: 'inverted_interval',
        path: ['versions', i, 'validTo'],
        message: `validTo ${iso(v.validTo)} is not after validFrom ${iso(v.validFrom)}`,
      });
    }
    if (v.supersedes && !a.versions.some((w) => w.id === v.supersedes)) {
      out.push({
        code: 'unknown_version',
        path: ['versions', i, 'supersedes'],
        message: `supersedes '${v.supersedes}', which is not a version of this agreement`,
      });
    }
    const prev = a.versions[i - 1];
    if (prev) {
      if (v.validFrom <= prev.validFrom) {
        out.push({
          code: 'versions_out_of_order',
          path: ['versions', i, 'validFrom'],
          message: `versions must be listed by validFrom; ${v.id} starts at or before ${prev.id}`,
        });
      } else if (prev.validTo !== undefined && prev.validTo > v.validFrom) {
        out.push({
          code: 'overlapping_versions',
          path: ['versions', i - 1, 'validTo'],
          message: `${prev.id} runs to ${iso(prev.validTo)}, past the start of ${v.id} (${iso(v.validFrom)}); end it at or before that instant`,
        });
      }
    }
    const t = v.terms;
    const ids = new Set<string>();
    const unique = (x: string, path: DocPath) => {
      if (ids.has(x))
        out.push({ code: 'duplicate_id', path, message: `id '${x}' is used twice in this version's terms` });
      ids.add(x);
    };
    t.licences.forEach((l, j) => {
      const p: DocPath = ['versions', i, 'terms', 'licences', j];
      unique(l.id, [...p, 'id']);
      party(l.licensor, [...p, 'licensor']);
      party(l.licensee, [...p, 'licensee']);
      if (l.term.to !== undefined && l.term.to <= l.term.from)
        out.push({
          code: 'inverted_interval',
          path: [...p, 'term', 'to'],
          message: 'the licence term ends before it starts',
        });
    });
    // An exclusive (or sole) grant excludes every other licensee of the same subject and models
    // for an overlapping term.
    t.licences.forEach((l, j) => {
      t.licences.forEach((m, k) => {
        if (k <= j || l.subject !== m.subject || l.licensee === m.licensee) return;
        if (l.exclusivity === 'non-exclusive' && m.exclusivity === 'non-exclusive') return;
        if (!termsOverlap(l, m) || !selectorsIntersect(l.models, m.models)) return;
        out.push({
          code: 'exclusive_overlap',
          path: ['versions', i, 'terms', 'licences', k],
          message: `grant '${m.id}' to ${m.licensee} overlaps the ${l.exclusivity === 'non-exclusive' ? m.exclusivity : l.exclusivity} grant '${l.id}' to ${l.licensee} (same subject, models and term); make one non-exclusive or separate their terms`,
        });
      });
    });
    t.revenueShares.forEach((r, j) => {
      const p: DocPath = ['versions', i, 'terms', 'revenueShares', j];
      unique(r.id, [...p, 'id']);
      party(r.payer, [...p, 'payer']);
      party(r.payee, [...p, 'payee']);
      party(r.revenueBase.seller, [...p, 'revenueBase', 'seller']);
      // A share is paid out of the payer's own revenue: the base must be the payer's sales.
      if (r.revenueBase.seller !== r.payer)
        out.push({
          code: 'revenue_base_seller_mismatch',
          path: [...p, 'revenueBase', 'seller'],
          message: `the share is paid by ${r.payer}, so its revenue base must be ${r.payer}'s revenue (seller: ${r.payer}), not ${r.revenueBase.seller}'s`,
        });
      if (r.rate.num > r.rate.den)
        out.push({
          code: 'rate_out_of_range',
          path: [...p, 'rate'],
          message: `the rate ${r.rate.num}/${r.rate.den} is above 1; a share is a fraction in [0, 1]`,
        });
      if (r.term.to !== undefined && r.term.to <= r.term.from)
        out.push({
          code: 'inverted_interval',
          path: [...p, 'term', 'to'],
          message: 'the revenue-share term ends before it starts',
        });
    });
    t.carveOuts.forEach((c, j) => {
      const p: DocPath = ['versions', i, 'terms', 'carveOuts', j];
      unique(c.id, [...p, 'id']);
      if (!c.models && !c.ownedBy && !c.tenants)
        out.push({
          code: 'carve_out_selects_nothing',
          path: p,
          message: `carve-out '${c.id}' names no models, ownedBy or tenants; a carve-out exempts what it selects, so name what it covers`,
        });
    });
    t.equity.forEach((e, j) => {
      party(e.holder, ['versions', i, 'terms', 'equity', j, 'holder']);
      if (e.stake.num > e.stake.den)
        out.push({
          code: 'stake_out_of_range',
          path: ['versions', i, 'terms', 'equity', j, 'stake'],
          message: 'a stake is a fraction in [0, 1]',
        });
    });
    if (t.cloud.exclusive && t.cloud.permittedClouds !== 'any' && t.cloud.permittedClouds.length > 0) {
      out.push({
        code: 'cloud_not_permitted',
        path: ['versions', i, 'terms', 'cloud', 'permittedClouds'],
        message:
          'an exclusive primary cloud permits no other cloud; remove permittedClouds or set exclusive: false',
      });
    }
  });
  return out;
}

/**
 * Checks against the gateway's configuration: the clouds the agreement names must be clouds the
 * catalog has upstreams on (a misspelt primary would otherwise refuse or misroute every request).
 */
export function crossCheckAgreement(a: Agreement, clouds: ReadonlySet<string>): Finding[] {
  const out: Finding[] = [];
  const known = [...clouds].sort().join(', ');
  a.versions.forEach((v, i) => {
    const c = v.terms.cloud;
    if (!clouds.has(c.primary))
      out.push({
        code: 'unknown_cloud',
        path: ['versions', i, 'terms', 'cloud', 'primary'],
        message: `primary cloud '${c.primary}' is not the cloud of any deployment in the configuration (clouds: ${known})`,
      });
    if (c.permittedClouds !== 'any')
      c.permittedClouds.forEach((x, j) => {
        if (!clouds.has(x))
          out.push({
            code: 'unknown_cloud',
            path: ['versions', i, 'terms', 'cloud', 'permittedClouds', j],
            message: `permitted cloud '${x}' is not the cloud of any deployment in the configuration (clouds: ${known})`,
          });
      });
  });
  return out;
}

/** The joint programmes name capacity pools of the gateway's configuration. */
export function crossCheckPools(a: Agreement, pools: ReadonlySet<string>): Finding[] {
  const known = [...pools].sort().join(', ') || 'none';
  return a.versions.flatMap((v, i) =>
    v.terms.programmes.flatMap((p, j) =>
      p.pools.flatMap((id, k) =>
        pools.has(id)
          ? []
          : [
              {
                code: 'unknown_pool',
                path: ['versions', i, 'terms', 'programmes', j, 'pools', k],
                message: `programme '${p.id}' names pool '${id}', which the configuration does not define (pools: ${known})`,
              },
            ],
      ),
    ),
  );
}
