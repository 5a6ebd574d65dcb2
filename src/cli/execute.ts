// The `entente` commands, run from their canonical argument list (program.ts parses the command
// line and builds it): thin over the modules. Imported only once a command runs, so that
// `entente --help` and a mistyped command answer at once.
import { MAX_GRACE_S, planKeyRotation } from '../admin/index.js';
import { auditor, cliActor } from '../audit/index.js';
import { systemClock } from '../clock/index.js';
import { loadConfig } from '../config/index.js';
import { EntenteError } from '../errors/index.js';
import { generateKey, hashKey } from '../gateway/index.js';
import { agreementCommand, rolloutCommand, routeCommand } from './agreement-commands.js';
import { announceChange } from './announce.js';
import { capacityCommand } from './capacity-commands.js';
import type { CliInput } from './cli-input.js';
import { explainConfig } from './explain-config.js';
import { auditCommand, pricesCommand } from './governance-commands.js';
import type { CliHooks } from './hooks.js';
import { limitsFromFlags } from './key-limits.js';
import { ledgerCommand, revenueShareCommand, spoolCommand, usageCommand } from './ledger-commands.js';
import { listKeys } from './list-keys.js';
import { loadCliConfig, openCliStore } from './load-cli-config.js';
import { preflight } from './preflight.js';
import { completionScript } from './program.js';
import { resolveConfigPath } from './resolve-paths.js';
import { serve } from './serve.js';

/** A mistake on the command line: `entente: [cli_usage] …`, exit 2. */
function fail(message: string, exitCode: 1 | 2 = 2): never {
  throw new EntenteError('cli_usage', message, { exitCode });
}

/** The global --config, when given (set by runCli before a command runs). */
let configFlag: string | undefined;

export function setConfigFlag(flag: string | undefined): void {
  configFlag = flag;
}

/** The config file, by the one resolution order, said on stderr (which file, and why). */
function configPath(): string {
  const r = resolveConfigPath(configFlag);
  process.stderr.write(`entente: config ${r.path} (${r.source})\n`);
  return r.path;
}

function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) fail(`${name} must be a whole number, got '${v}'`);
  return Number(v);
}

/** Runs one command from its canonical argument list (program.ts builds it from the command line). */
export async function execute(path: readonly string[], input: CliInput, hooks: CliHooks): Promise<void> {
  const [cmd, sub] = path;
  const { values, flags, positionals } = input;
  switch (cmd) {
    case 'completion': {
      const shell = positionals[0] ?? '';
      const script = completionScript(shell);
      if (!script) fail(`no completion for shell '${shell}': bash or zsh`);
      process.stdout.write(script);
      return;
    }
    case 'serve': {
      const port = num(values.port ?? process.env.ENTENTE_PORT, '--port');
      // A global --data-dir is in ENTENTE_DATA_DIR by now (main.ts).
      const dataDir = process.env.ENTENTE_DATA_DIR;
      const host = values.host ?? process.env.ENTENTE_HOST;
      await serve(
        configPath(),
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
      if (sub === 'explain') return explainConfig(input, fail);
      if (sub !== 'validate') fail(`unknown command 'config ${sub ?? ''}'. Try: entente config validate`);
      const loaded = loadConfig(configPath());
      // The same checks `serve` makes, so a file called valid here starts.
      const { warnings } = preflight(loaded, systemClock.now());
      for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
      process.stdout.write(
        `${loaded.file}: valid (${loaded.config.models.length} models, ${loaded.config.upstreams.length} upstreams${warnings.length ? `; ${warnings.length} warnings` : ''})\n`,
      );
      return;
    }
    case 'keys': {
      if (sub === 'hash') {
        if (!positionals[0]) fail('usage: entente keys hash KEY');
        process.stdout.write(`${hashKey(positionals[0])}\n`);
        return;
      }
      const loaded = loadCliConfig(configPath());
      const store = await openCliStore(loaded, { create: sub === 'create' });
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
          const asked = limitsFromFlags(values);
          if ('problem' in asked) fail(asked.problem);
          if (asked.limits?.budget && !loaded.config.ledger)
            fail("--budget is money in the ledger's currency: the config needs ledger.priceBooks");
          const expiresAtMs = values.expires === undefined ? null : Date.parse(values.expires);
          if (expiresAtMs !== null && (Number.isNaN(expiresAtMs) || expiresAtMs <= systemClock.now()))
            fail(`--expires must be an ISO-8601 instant in the future, got '${values.expires}'`);
          const created = await store.insertApiKey({
            id,
            tenantId: values.tenant,
            sha256: hashKey(key),
            models,
            createdAtMs: systemClock.now(),
            revokedAtMs: null,
            expiresAtMs,
            ...(asked.limits ? { limits: asked.limits } : {}),
          });
          // Never over an existing key: that would replace its secret and limits without a word.
          if (!created) fail(`a key with id '${id}' exists (rotate it, or pick another --id)`);
          await auditor(store, systemClock, cliActor()).record('key.create', id, {
            tenant: values.tenant,
            models,
            expiresAt: values.expires ?? null,
            limits: asked.limits,
          });
          await announceChange(loaded.config, 'keys');
          process.stdout.write(
            `${JSON.stringify({ id, tenant: values.tenant, models, key })}\nStore the key now: Entente keeps only its hash. A running gateway picks it up within 5 s.\n`,
          );
        } else if (sub === 'list') {
          const limit = num(values.limit, '--limit');
          if (limit !== undefined && (limit < 1 || limit > 1_000_000))
            fail('--limit must be a whole number from 1 to 1000000');
          if (values.after !== undefined && !/^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/.test(values.after))
            fail(
              `--after '${values.after.slice(0, 80)}' is not a key id (1-64 of a-z, A-Z, 0-9, dot, dash, underscore)`,
            );
          const next = await listKeys(store, process.stdout, {
            ...(limit === undefined ? {} : { limit }),
            ...(values.after === undefined ? {} : { after: values.after }),
            json: flags.has('json'),
            nowMs: systemClock.now(),
          });
          if (next !== null) process.stderr.write(`entente: more keys: --after ${next}\n`);
        } else if (sub === 'rotate') {
          // The same rotation as POST /v1/entente/keys/rotate/:id: a new key; the old one expires
          // at the end of the grace period.
          const graceS = values.grace === undefined ? 3600 : Number(values.grace);
          if (!positionals[0]) fail('usage: entente keys rotate KEY_ID [--grace SECONDS]');
          if (!Number.isInteger(graceS) || graceS < 0 || graceS > MAX_GRACE_S)
            fail(`--grace must be a whole number of seconds from 0 to ${MAX_GRACE_S}`);
          const old = await store.getApiKey(positionals[0]);
          const plan = old ? await planKeyRotation(store, old, graceS, systemClock.now()) : null;
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
          const asked = limitsFromFlags(values);
          if ('problem' in asked) fail(asked.problem);
          if (!asked.limits && !flags.has('clear'))
            fail('name a limit (--rpm, --tpm, --concurrent, --budget) or --clear');
          if (asked.limits?.budget && !loaded.config.ledger)
            fail("--budget is money in the ledger's currency: the config needs ledger.priceBooks");
          const k = await store.getApiKey(id);
          if (!k) fail(`no key with id '${id}'`, 1);
          const { limits: _old, ...rest } = k;
          await store.putApiKey(asked.limits ? { ...rest, limits: asked.limits } : rest);
          await auditor(store, systemClock, cliActor()).record('key.limits', id, { limits: asked.limits });
          await announceChange(loaded.config, 'keys');
          process.stdout.write(`${JSON.stringify({ id, limits: asked.limits })}\n`);
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
      await run(sub, input, configPath(), fail);
      return;
    }
    case 'demo': {
      if (sub !== 'traffic') fail('usage: entente demo traffic [--url U] [--key K] [--count N] [--faults]');
      const { demoTraffic } = await import('./demo-traffic.js');
      const port = process.env.ENTENTE_PORT ?? '8080';
      await demoTraffic(
        {
          url: values.url ?? `http://127.0.0.1:${port}`,
          key: values.key ?? 'sk-entente-demo-0000000000000000',
          licenseeKey: values['licensee-key'] ?? 'sk-entente-microsoft-000000000000',
          count: num(values.count, '--count') ?? 300,
          concurrency: num(values.concurrency, '--concurrency') ?? 4,
          azureSimUrl: flags.has('faults')
            ? (values['azure-sim'] ?? `http://127.0.0.1:${process.env.ENTENTE_SIM_AZURE_PORT ?? '18081'}`)
            : null,
        },
        (l) => process.stdout.write(`${l}\n`),
      );
      return;
    }
    case 'sim': {
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
