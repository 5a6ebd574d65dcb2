// `entente capacity status|forecast [--json]`: each provisioned pool's utilization, spill-over
// share and effective price, and its forecast (saturation date, units needed, backtest error),
// read from the store's per-minute roll-ups, so the whole fleet's traffic counts.

import { toJson } from '../admin/index.js';
import { CapacityPlan, capacityReport, catalogView } from '../capacity/index.js';
import { systemClock } from '../clock/index.js';
import { loadPriceBooks } from '../ledger/index.js';
import { compileCatalog } from '../routing/index.js';
import type { CliInput, Fail } from './cli-input.js';
import { loadCliConfig, openCliStore } from './load-cli-config.js';

const out = (s: string): void => {
  process.stdout.write(`${s}\n`);
};
const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

export async function capacityCommand(
  sub: string | undefined,
  input: CliInput,
  configFile: string,
  fail: Fail,
): Promise<void> {
  if (sub !== 'status' && sub !== 'forecast')
    fail(`unknown command 'capacity ${sub ?? ''}'. Try: entente capacity status|forecast [--json]`);
  const loaded = loadCliConfig(configFile);
  const plan = new CapacityPlan(loaded.config.capacity);
  if (plan.empty) fail('no capacity pools in the config (capacity.pools)', 1);
  const books = loaded.priceBooksFile ? loadPriceBooks(loaded.priceBooksFile) : null;
  const store = await openCliStore(loaded);
  try {
    const report = await capacityReport(
      store,
      plan,
      catalogView(compileCatalog(loaded.config).values()),
      books,
      systemClock.now(),
    );
    if (input.flags.has('json')) return out(toJson(report));
    for (const p of report) {
      if (sub === 'status')
        out(
          `${p.id}\t${p.size} ${p.unit} = ${p.capacityTpm} tokens/min (fills to ${pct(p.targetUtilization)})\tpeak minute ${pct(p.lastHour.utilization)}\tspilled 24 h ${pct(p.last24h.spillShare)}\t${p.month.effectivePerMillion ?? '—'} per million this month\t${[p.accelerator, p.datacenter].filter(Boolean).join(' @ ')}${p.inForce ? '' : '\t(not in force)'}`,
        );
      else if (!p.forecast) out(`${p.id}\tno forecast: ${'reason' in p ? p.reason : ''}`);
      else
        out(
          `${p.id}\tp95 next week ${p.forecast.p95NextWeekTpm} tokens/min (${pct(p.forecast.utilizationNextWeek)})\tsaturates ${p.forecast.saturatesAt ?? 'not within 12 weeks'}\tneeds ${p.forecast.unitsNeeded} ${p.forecast.unit} (${p.forecast.recommendedChange >= 0 ? '+' : ''}${p.forecast.recommendedChange})\tbreak-even ${p.forecast.breakEvenTokensPerMonth ?? '—'} tokens/month a unit\tbacktest error ${p.forecast.backtestMape === null ? '— (under two weeks of data)' : pct(p.forecast.backtestMape)}`,
        );
    }
  } finally {
    await store.close();
  }
}
