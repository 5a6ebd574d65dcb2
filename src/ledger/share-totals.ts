// A revenue share's figures summed over its segments (one per agreement version that states it):
// accrual is kept per segment so an amendment never re-rates the past; reports show the share.
import type { Agreement } from '../agreements/index.js';
import type { AccrualState } from './plan-postings.js';

export interface SegmentTotals {
  readonly versionId: string;
  readonly revenueMicros: bigint;
  readonly accruedMicros: bigint;
}

export interface ShareTotals {
  /** `<agreement id>/<share id>` */
  readonly shareId: string;
  readonly revenueMicros: bigint;
  readonly accruedMicros: bigint;
  readonly segments: readonly SegmentTotals[];
}

export function shareTotals(
  agreement: Agreement,
  states: ReadonlyMap<string, AccrualState>,
): Map<string, ShareTotals> {
  const out = new Map<string, { revenueMicros: bigint; accruedMicros: bigint; segments: SegmentTotals[] }>();
  for (const v of agreement.versions)
    for (const r of v.terms.revenueShares) {
      const shareId = `${agreement.id}/${r.id}`;
      const s = states.get(`${shareId}@${v.id}`) ?? { revenueMicros: 0n, accruedMicros: 0n };
      const t = out.get(shareId) ?? { revenueMicros: 0n, accruedMicros: 0n, segments: [] };
      t.revenueMicros += s.revenueMicros;
      t.accruedMicros += s.accruedMicros;
      t.segments.push({ versionId: v.id, revenueMicros: s.revenueMicros, accruedMicros: s.accruedMicros });
      out.set(shareId, t);
    }
  return new Map([...out].map(([shareId, t]) => [shareId, { shareId, ...t }]));
}
