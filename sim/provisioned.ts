// Provisioned throughput as the clouds meter it: a leaky bucket over the last 60 s per reserved
// deployment (Azure PTU), model (Bedrock's reserved tier, OpenAI's scale tier) or endpoint model
// (Vertex Provisioned Throughput). A request is admitted while utilization is below 100% and is
// then counted at its actual tokens; at 100% the cloud either spills it to shared capacity (and
// says so in its answer) or refuses it with a wait, depending on the cloud and the request.
import { systemClock } from '../src/clock/index.js';

export type Admission =
  | { readonly admitted: true; count(tokens: number): void }
  | { readonly admitted: false; readonly waitMs: number };

export class ProvisionedBuckets {
  readonly #log = new Map<string, { t: number; tokens: number }[]>();

  /** `capacity`: tokens per minute; undefined = not provisioned (always admitted, not counted). */
  admit(name: string, capacity: number | undefined): Admission {
    if (capacity === undefined) return { admitted: true, count: () => {} };
    const now = systemClock.now();
    const log = (this.#log.get(name) ?? []).filter((e) => e.t > now - 60_000);
    this.#log.set(name, log);
    const used = log.reduce((a, e) => a + e.tokens, 0);
    if (used < capacity) return { admitted: true, count: (tokens) => log.push({ t: now, tokens }) };
    let freed = 0;
    for (const e of log) {
      freed += e.tokens;
      if (used - freed < capacity) return { admitted: false, waitMs: Math.max(1, e.t + 60_000 - now) };
    }
    return { admitted: false, waitMs: 60_000 };
  }
}
