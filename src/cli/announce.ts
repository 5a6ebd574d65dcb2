// A change made from the CLI (a rollout event, a key) is announced to a running fleet, so every
// node applies it at once; without Redis (or with it down) the nodes' polls pick it up.
import { systemClock } from '../clock/index.js';
import { FleetBus } from '../cluster/index.js';
import type { Config } from '../config/index.js';
import { silentLogger } from '../observability/index.js';
import { fleetRedisUrl } from './serve.js';

export async function announceChange(config: Config, what: 'rollout' | 'keys'): Promise<void> {
  const url = fleetRedisUrl(config);
  if (!url) return;
  try {
    const bus = await FleetBus.connect({
      url,
      namespace: config.cluster.namespace,
      nodeId: `cli-${process.pid}`,
      log: silentLogger,
      now: () => systemClock.now(),
      onMessage: () => undefined,
    });
    bus.publish({ kind: 'changed', what });
    await bus.close();
  } catch (err) {
    process.stderr.write(
      `warning: could not tell the fleet over Redis (${(err as Error).message}); nodes pick the change up at their next poll\n`,
    );
  }
}
