// The `entente` command: thin over the modules. `entente help` lists the commands.
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MAX_GRACE_S, planRotation } from '../admin/index.js';
import { auditor, cliActor } from '../audit/index.js';
import { systemClock } from '../clock/index.js';
import { loadConfig } from '../config/index.js';
import { EntenteError, isEntenteError } from '../errors/index.js';
import { generateKey, hashKey } from '../gateway/index.js';
import { openStore } from '../store/index.js';
import { agreementCommand, rolloutCommand, routeCommand } from './agreement-commands.js';
import { announceChange } from './announce.js';
import { capacityCommand } from './capacity-commands.js';
import { auditCommand, pricesCommand } from './governance-commands.js';
import type { CliHooks } from './hooks.js';
import { LIMIT_OPTIONS, limitsFromFlags } from './key-limits.js';
import { ledgerCommand, revenueShareCommand, spoolCommand, usageCommand } from './ledger-commands.js';
import { loadCliConfig } from './load-cli-config.js';
import { preflight } from './preflight.js';
import { serve } from './serve.js';

export const defaultConfigPath = fileURLToPath(new URL('../../../examples/entente.yaml', import.meta.url));

const help = `entente: an AI gateway that runs a partnership agreement as code

Usage:
  entente serve [--config FILE] [--port N] [--host H] [--data-dir DIR]
      Start the gateway (and the simulated clouds the config names).
      Environment: ENTENTE_CONFIG, ENTENTE_PORT, ENTENTE_HOST, ENTENTE_DATA_DIR, DATABASE_URL.
  entente config validate [--config FILE]
      Check a config file; exits 1 with located errors.
  entente keys create --tenant ID [--id KEY_ID] [--models a,b] [--expires D]   Issue a key (printed once).
         [--rpm N] [--tpm N] [--concurrent N] [--budget AMOUNT/day|month]   …with its own limits.
  entente capacity status|forecast [--json]                     Provisioned pools: utilization, spill-over, forecast.
  entente keys limits KEY_ID [--rpm N] [--tpm N] [--concurrent N] [--budget A/P] | --clear   Set a key's limits, live.
  entente keys rotate KEY_ID [--grace SECONDS]                  A new key; the old one works SECONDS more (3600).
  entente keys list                                             Keys (hashes never shown in full).
  entente keys revoke KEY_ID
  entente keys hash KEY                                         The SHA-256 to put in a config file.
  entente agreement validate [FILE] | show [FILE] [--as-of D] [--known-at D] | diff [FILE] [FROM TO] | schema [--json]
      The agreement FILE (or --agreement FILE), else the one the config names (agreement.file).
  entente prices show [--as-of D] [--json]   each model version's price and the book it comes from
  entente audit [--limit N] [--action A] [--subject S] [--json]   who changed what, newest first
  entente rollout status | promote MODEL VERSION CLOUD STAGE [--region R] [--evidence T]
                 | waive MODEL VERSION --capability T --primary-cannot-support --partner-decision REF
  entente route explain --model M [--tenant T] [--at D] [--json]
  entente ledger balances | statement --period YYYY-MM [--account A] [--format csv|json] | close --period YYYY-MM
  entente ledger refund --request REQUEST_ID --amount 1.25 --id REFUND_ID
  entente revenue-share status [--json]      accrued, cap, remaining, run-rate, when the cap is reached
  entente usage replay                       rebuild the ledger from the usage log and compare
  entente spool ship DIR                     store and post what a dead node's spool holds (idempotent)
  entente sim --kind openai|azure-openai|bedrock|google|anthropic [--port N] [--latency-ms N] [--tokens-per-second N]
  entente demo traffic [--count N] [--concurrency N] [--faults] [--url U] [--key K]
                                     a realistic request mix against a running gateway
      Run one cloud simulator on its own.
`;

/** A mistake on the command line: `entente: [cli_usage] …`, exit 2. */
function fail(message: string, exitCode: 1 | 2 = 2): never {
  throw new EntenteError('cli_usage', message, { exitCode });
}

function report(err: EntenteError, exitCode: number): never {
  process.stderr.write(`entente: [${err.code}] ${err.message}\n`);
  process.exit(exitCode);
}

function configPath(flag: string | undefined): string {
  return flag ?? process.env.ENTENTE_CONFIG ?? defaultConfigPath;
}

function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) fail(`${name} must be a whole number, got '${v}'`);
  return Number(v);
}

async function main(argv: string[], hooks: CliHooks): Promise<void> {
  const [cmd, sub, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(help);
      return;
    case 'serve': {
      const { values } = parseArgs({
        args: argv.slice(1),
        options: {
          config: { type: 'string' },
          port: { type: 'string' },
          host: { type: 'string' },
          'data-dir': { type: 'string' },
        },
      });
      const port = num(values.port ?? process.env.ENTENTE_PORT, '--port');
      const dataDir = values['data-dir'] ?? process.env.ENTENTE_DATA_DIR;
      const host = values.host ?? process.env.ENTENTE_HOST;
      await serve(
        configPath(values.config),
        {
          ...(port !== undefined ? { port } : {}),
          ...(dataDir ? { dataDir } : {}),
          ...(host ? { host } : {}),
        },
        hooks,
      );
      return;
    }
    case 'config': {
      if (sub !== 'validate') fail(`unknown command 'config ${sub ?? ''}'. Try: entente config validate`);
      const { values } = parseArgs({ args: rest, options: { config: { type: 'string' } } });
      const loaded = loadConfig(configPath(values.config));
      // The same checks `serve` makes, so a file called valid here starts.
      const { warnings } = preflight(loaded, systemClock.now());
      for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
      process.stdout.write(
        `${loaded.file}: valid (${loaded.config.models.length} models, ${loaded.config.upstreams.length} upstreams${warnings.length ? `; ${warnings.length} warnings` : ''})\n`,
      );
      return;
    }
    case 'keys': {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: {
          config: { type: 'string' },
          tenant: { type: 'string' },
          id: { type: 'string' },
          models: { type: 'string' },
          expires: { type: 'string' },
          grace: { type: 'string' },
          clear: { type: 'boolean' },
          ...LIMIT_OPTIONS,
        },
      });
      if (sub === 'hash') {
        if (!positionals[0]) fail('usage: entente keys hash KEY');
        process.stdout.write(`${hashKey(positionals[0])}\n`);
        return;
      }
      const loaded = loadCliConfig(configPath(values.config));
      const store = await openStore(loaded.dataDir);
      try {
        if (sub === 'create') {
          if (!values.tenant) fail('usage: entente keys create --tenant ID [--id KEY_ID] [--models a,b]');
          // Ids and tenants appear in logs and metrics: the same shape as config ids, nothing else.
          const ID = /^[a-z0-9][a-z0-9._-]{0,63}$/;
          if (!ID.test(values.tenant))
            fail(`--tenant '${values.tenant}' must be 1-64 characters of a-z, 0-9, dot, dash, underscore`);
          if (values.id !== undefined && !ID.test(values.id))
            fail(`--id '${values.id}' must be 1-64 characters of a-z, 0-9, dot, dash, underscore`);
          const key = generateKey();
          const id = values.id ?? `key-${hashKey(key).slice(0, 12)}`;
          const models = values.models
            ? values.models
                .split(',')
                .map((m) => m.trim())
                .filter(Boolean)
            : ['*'];
          const known = new Set(loaded.config.models.map((m) => m.name));
          for (const m of models)
            if (m !== '*' && !known.has(m))
              fail(`unknown model '${m}' (the catalog has: ${[...known].join(', ')})`);
          const flags = limitsFromFlags(values);
          if ('problem' in flags) fail(flags.problem);
          if (flags.limits?.budget && !loaded.config.ledger)
            fail("--budget is money in the ledger's currency: the config needs ledger.priceBooks");
          const expiresAtMs = values.expires === undefined ? null : Date.parse(values.expires);
          if (expiresAtMs !== null && (Number.isNaN(expiresAtMs) || expiresAtMs <= systemClock.now()))
            fail(`--expires must be an ISO-8601 instant in the future, got '${values.expires}'`);
          await store.putApiKey({
            id,
            tenantId: values.tenant,
            sha256: hashKey(key),
            models,
            createdAtMs: systemClock.now(),
            revokedAtMs: null,
            expiresAtMs,
            ...(flags.limits ? { limits: flags.limits } : {}),
          });
          await auditor(store, systemClock, cliActor()).record('key.create', id, {
            tenant: values.tenant,
            models,
            expiresAt: values.expires ?? null,
            limits: flags.limits,
          });
          await announceChange(loaded.config, 'keys');
          process.stdout.write(
            `${JSON.stringify({ id, tenant: values.tenant, models, key })}\nStore the key now: Entente keeps only its hash. A running gateway picks it up within 5 s.\n`,
          );
        } else if (sub === 'list') {
          const now = systemClock.now();
          for (const k of await store.listApiKeys()) {
            const state = k.revokedAtMs
              ? `revoked ${new Date(k.revokedAtMs).toISOString()}`
              : k.expiresAtMs != null
                ? `${k.expiresAtMs <= now ? 'expired' : 'active, expires'} ${new Date(k.expiresAtMs).toISOString()}`
                : 'active';
            process.stdout.write(
              `${k.id}\ttenant=${k.tenantId}\tmodels=${k.models.join(',')}\tsha256=${k.sha256.slice(0, 8)}…\t${state}${k.limits ? `\tlimits=${JSON.stringify(k.limits)}` : ''}\n`,
            );
          }
        } else if (sub === 'rotate') {
          // The same rotation as POST /v1/entente/keys/rotate/:id: a new key; the old one expires
          // at the end of the grace period.
          const all = await store.listApiKeys();
          const old = all.find((k) => k.id === positionals[0]);
          const graceS = values.grace === undefined ? 3600 : Number(values.grace);
          if (!positionals[0]) fail('usage: entente keys rotate KEY_ID [--grace SECONDS]');
          if (!Number.isInteger(graceS) || graceS < 0 || graceS > MAX_GRACE_S)
            fail(`--grace must be a whole number of seconds from 0 to ${MAX_GRACE_S}`);
          const plan = old ? planRotation(old, all, graceS, systemClock.now()) : null;
          if (!old || !plan) fail(`no active key with id '${positionals[0]}'`, 1);
          await store.putApiKey(plan.fresh);
          await store.putApiKey(plan.expiring);
          const id = plan.fresh.id;
          const key = plan.secret;
          const endsAtMs = plan.expiring.expiresAtMs!;
          await auditor(store, systemClock, cliActor()).record('key.rotate', old.id, {
            newId: id,
            oldKeyExpiresAt: new Date(endsAtMs).toISOString(),
          });
          await announceChange(loaded.config, 'keys');
          process.stdout.write(
            `${JSON.stringify({ id, tenant: old.tenantId, key, previous: { id: old.id, expiresAt: new Date(endsAtMs).toISOString() } })}\nStore the key now: Entente keeps only its hash.\n`,
          );
        } else if (sub === 'limits') {
          const id = positionals[0];
          if (!id)
            fail(
              'usage: entente keys limits KEY_ID [--rpm N] [--tpm N] [--concurrent N] [--budget A/P] | --clear',
            );
          const flags = limitsFromFlags(values);
          if ('problem' in flags) fail(flags.problem);
          if (!flags.limits && !values.clear)
            fail('name a limit (--rpm, --tpm, --concurrent, --budget) or --clear');
          if (flags.limits?.budget && !loaded.config.ledger)
            fail("--budget is money in the ledger's currency: the config needs ledger.priceBooks");
          const k = (await store.listApiKeys()).find((x) => x.id === id);
          if (!k) fail(`no key with id '${id}'`, 1);
          const { limits: _old, ...rest } = k;
          await store.putApiKey(flags.limits ? { ...rest, limits: flags.limits } : rest);
          await auditor(store, systemClock, cliActor()).record('key.limits', id, { limits: flags.limits });
          await announceChange(loaded.config, 'keys');
          process.stdout.write(`${JSON.stringify({ id, limits: flags.limits })}\n`);
        } else if (sub === 'revoke') {
          if (!positionals[0]) fail('usage: entente keys revoke KEY_ID');
          const ok = await store.revokeApiKey(positionals[0], systemClock.now());
          if (!ok) fail(`no active key with id '${positionals[0]}'`, 1);
          await auditor(store, systemClock, cliActor()).record('key.revoke', positionals[0], {});
          await announceChange(loaded.config, 'keys');
          process.stdout.write(`revoked ${positionals[0]}\n`);
        } else {
          fail(`unknown command 'keys ${sub ?? ''}'. Try: entente help`);
        }
      } finally {
        await store.close();
      }
      return;
    }
    case 'agreement':
    case 'rollout':
    case 'route':
    case 'ledger':
    case 'revenue-share':
    case 'prices':
    case 'audit':
    case 'capacity':
    case 'spool':
    case 'usage': {
      const rest2 = argv.slice(2);
      const i = rest2.indexOf('--config');
      const cfg = configPath(i >= 0 ? rest2[i + 1] : undefined);
      const args = i >= 0 ? [...rest2.slice(0, i), ...rest2.slice(i + 2)] : rest2;
      const run = {
        agreement: agreementCommand,
        rollout: rolloutCommand,
        route: routeCommand,
        ledger: ledgerCommand,
        'revenue-share': revenueShareCommand,
        usage: usageCommand,
        prices: pricesCommand,
        audit: auditCommand,
        capacity: capacityCommand,
        spool: spoolCommand,
      }[cmd];
      await run(sub, args, cfg, fail);
      return;
    }
    case 'demo': {
      if (sub !== 'traffic') fail('usage: entente demo traffic [--url U] [--key K] [--count N] [--faults]');
      const { values } = parseArgs({
        args: rest,
        options: {
          url: { type: 'string' },
          key: { type: 'string' },
          'licensee-key': { type: 'string' },
          count: { type: 'string' },
          concurrency: { type: 'string' },
          faults: { type: 'boolean' },
          'azure-sim': { type: 'string' },
        },
      });
      const { demoTraffic } = await import('./demo-traffic.js');
      const port = process.env.ENTENTE_PORT ?? '8080';
      await demoTraffic(
        {
          url: values.url ?? `http://127.0.0.1:${port}`,
          key: values.key ?? 'sk-entente-demo-0000000000000000',
          licenseeKey: values['licensee-key'] ?? 'sk-entente-microsoft-000000000000',
          count: num(values.count, '--count') ?? 300,
          concurrency: num(values.concurrency, '--concurrency') ?? 4,
          azureSimUrl: values.faults
            ? (values['azure-sim'] ?? `http://127.0.0.1:${process.env.ENTENTE_SIM_AZURE_PORT ?? '18081'}`)
            : null,
        },
        (l) => process.stdout.write(`${l}\n`),
      );
      return;
    }
    case 'sim': {
      const { values } = parseArgs({
        args: argv.slice(1),
        options: {
          kind: { type: 'string' },
          port: { type: 'string' },
          'latency-ms': { type: 'string' },
          'tokens-per-second': { type: 'string' },
        },
      });
      const kinds = ['openai', 'azure-openai', 'bedrock', 'google', 'anthropic'] as const;
      const kind = kinds.find((k) => k === values.kind);
      if (!kind) fail(`usage: entente sim --kind ${kinds.join('|')} [--port N]`);
      if (!hooks.startSimulator) fail('the simulators are not installed with this entente program', 1);
      const sim = await hooks.startSimulator({
        kind,
        port: num(values.port, '--port') ?? 0,
        latencyMs: num(values['latency-ms'], '--latency-ms') ?? 0,
        tokensPerSecond: num(values['tokens-per-second'], '--tokens-per-second') ?? 0,
      });
      process.stdout.write(`${values.kind} simulator listening on ${sim.url}\n`);
      const stop = () => void sim.close().then(() => process.exit(0));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
      return;
    }
    default:
      fail(`unknown command '${cmd}'. Try: entente help`);
  }
}

/** Runs the CLI; every failure is printed as `entente: [code] message` with its exit status. */
export function runCli(argv: string[], hooks: CliHooks = {}): void {
  // A reader that stops early (`entente keys list | head -1`) closes the pipe: that ends the
  // output, as for any Unix tool, and is not an error worth a stack trace.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
  main(argv, hooks).catch((err: unknown) => {
    if (isEntenteError(err)) return report(err, err.exitCode);
    // A mistyped flag is the user's mistake, not a crash: say so without a stack trace.
    if (String((err as { code?: unknown }).code ?? '').startsWith('ERR_PARSE_ARGS'))
      return report(new EntenteError('cli_usage', (err as Error).message), 2);
    process.stderr.write(`entente: [internal_error] ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
