// The gateway config the long runs share (crash, fuzz, PostgreSQL outage): one simulated OpenAI
// upstream, a chat and an embeddings model, one tenant key, and metering on: price books and an
// agreement with a capped 20% revenue share, written into the run's own folder.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Simulator } from '../../sim/index.js';
import { shareAgreementYaml } from './share-agreement.js';

export const SIM_PRICES_YAML =
  'currency: USD\nbooks:\n  - { id: b, effectiveFrom: 2020-01-01T00:00:00Z, prices: [{ model: gpt-4o-mini, inputUncached: "150", inputCached: "75", output: "600" }, { model: emb, inputUncached: "0.02", inputCached: "0.02", output: "0" }] }\n';

export interface SimGatewayOptions {
  readonly dir: string;
  readonly sim: Simulator;
  /** The tenant key the run sends. */
  readonly key: string;
  /** Extra fields of `server:` (port, limits, admin key). */
  readonly server?: string;
  /** More top-level YAML (usage:, …). */
  readonly extraYaml?: string;
  readonly ledgerIntervalMs?: number;
}

/** Writes prices.yaml and agreement.yaml into `dir`; returns the config's YAML text. */
export function simGatewayYaml(o: SimGatewayOptions): string {
  writeFileSync(join(o.dir, 'prices.yaml'), SIM_PRICES_YAML);
  writeFileSync(
    join(o.dir, 'agreement.yaml'),
    shareAgreementYaml({
      payer: 'openai',
      payee: 'microsoft',
      rate: '20/100',
      cap: '1000',
      from: '2020-01-01T00:00:00Z',
    }),
  );
  return `dataDir: ${o.dir}
server: { host: 127.0.0.1${o.server ? `, ${o.server}` : ', port: 0'} }
routing: { primaryCloud: azure }
upstreams:
  - { id: sim, provider: openai, cloud: azure, baseUrl: "${o.sim.url}/v1", auth: { apiKey: k } }
models:
  - name: gpt-4o-mini
    deployments: [{ upstream: sim, deployment: gpt-4o-mini, modelVersion: "1" }]
  - name: emb
    deployments: [{ upstream: sim, deployment: text-embedding-3-small, modelVersion: "1" }]
tenants:
  - id: t
    keys: [{ id: k, sha256: ${createHash('sha256').update(o.key).digest('hex')} }]
agreement: { file: ${join(o.dir, 'agreement.yaml')} }
ledger: { priceBooks: ${join(o.dir, 'prices.yaml')}, owner: openai, intervalMs: ${o.ledgerIntervalMs ?? 200} }
${o.extraYaml ?? ''}
`;
}

/** The same, written to `<dir>/entente.yaml`; returns that file's path. */
export function writeSimGatewayConfig(o: SimGatewayOptions): string {
  const file = join(o.dir, 'entente.yaml');
  writeFileSync(file, simGatewayYaml(o));
  return file;
}
