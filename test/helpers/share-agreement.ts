// The agreement the ledger tests need: two parties and one revenue-share term, its numbers given.

export interface ShareOptions {
  readonly id?: string;
  readonly payer?: string;
  readonly payee?: string;
  readonly rate: string;
  /** Major units, e.g. "0.000200"; null = no cap. */
  readonly cap?: string | null;
  readonly currency?: string;
  readonly from: string;
  readonly to?: string;
  readonly refundsAfterCap?: 'reduce-accrual' | 'ignore';
}

export function shareAgreementYaml(o: ShareOptions): string {
  const payer = o.payer ?? 'op';
  const payee = o.payee ?? 'partner';
  const term = o.to ? `{ from: ${o.from}, to: ${o.to} }` : `{ from: ${o.from} }`;
  return [
    `id: ${o.id ?? 'acme'}`,
    'title: test',
    `parties: [{ id: ${payer}, name: Payer }, { id: ${payee}, name: Payee }]`,
    'versions:',
    '  - id: v1',
    '    kind: original',
    '    validFrom: 2025-01-01T00:00:00Z',
    '    recordedAt: 2025-01-01T00:00:00Z',
    '    terms:',
    '      scope: { models: ["*"] }',
    '      cloud: { primary: azure, permittedClouds: any }',
    '      revenueShares:',
    '        - id: share',
    `          payer: ${payer}`,
    `          payee: ${payee}`,
    `          rate: "${o.rate}"`,
    `          revenueBase: { seller: ${payer} }`,
    `          term: ${term}`,
    ...(o.cap ? [`          cap: { amount: "${o.cap}", currency: ${o.currency ?? 'USD'} }`] : []),
    '          milestoneIndependent: true',
    ...(o.refundsAfterCap ? [`          refundsAfterCap: ${o.refundsAfterCap}`] : []),
    '',
  ].join('\n');
}
