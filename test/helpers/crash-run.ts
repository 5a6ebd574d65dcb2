// The crash run: the real `entente serve` (agreement, ledger, metrics and logs on, SQLite) under a
// mixed load of JSON and streamed requests, killed with SIGKILL at random moments and restarted on
// the same data folder, again and again. It notes every request whose complete answer reached the
// client (a whole JSON body; a stream read to `data: [DONE]`), then stops the gateway gracefully
// and checks the store: each such request has exactly one usage record and one ledger posting,
// every usage record is posted, every transaction balances, and `entente usage replay` agrees.
//
//   npm run chaos:crash                        CRASH_KILLS=20 CRASH_CONCURRENCY=24 (defaults)
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startSimulator } from '../../sim/index.js';
import { assertRowsBalanced } from '../../src/ledger/index.js';
import { SqliteStore } from '../../src/store/index.js';
import { freePort, seeded } from './random.js';
import { lostAndDoubled } from './records.js';
import { writeSimGatewayConfig } from './sim-gateway-config.js';

const cli = fileURLToPath(new URL('../../../bin/entente.js', import.meta.url));
export const CRASH_KEY = 'sk-crash-test';
const KEY = CRASH_KEY;

export interface CrashRunOptions {
  readonly kills: number;
  readonly concurrency: number;
  /** Each life of the gateway serves between min and max complete answers before it is killed. */
  readonly answersPerLife: readonly [number, number];
  readonly seed: number;
  readonly log?: (line: string) => void;
}

export interface CrashRunReport {
  readonly kills: number;
  readonly completed: number;
  readonly completedStreams: number;
  readonly usageRecords: number;
  readonly lost: readonly string[];
  readonly doubled: readonly string[];
  readonly unposted: number;
  readonly revenueTransactions: number;
  readonly missingPostings: readonly string[];
  readonly replay: string;
  /** Records each restart recovered from the spool (what the killed process had not stored). */
  readonly recoveredPerRestart: readonly number[];
}

export interface Life {
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  /** What the spool recovered at start (read from the log, which may arrive after serving begins). */
  readonly recovered: () => number;
}

/** Starts `entente serve`; resolves once it listens, with what its spool recovered. */
export function startGateway(cfg: string, env: NodeJS.ProcessEnv = process.env): Promise<Life> {
  const proc = spawn(process.execPath, [cli, 'serve', '--config', cfg], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    let recovered = 0;
    let serving = false;
    const onData = (d: Buffer) => {
      if (recovered === 0) {
        out += d.toString();
        const m = /"recovered":(\d+)/.exec(out);
        if (m) recovered = Number(m[1]);
      }
      if (serving) {
        if (out.length > 65_536) out = '';
        return;
      }
      if (/Entente is serving/.test(out)) {
        serving = true;
        resolve({ proc, exited, recovered: () => recovered });
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    void exited.then((code) => reject(new Error(`entente serve exited ${code} before serving: ${out}`)));
  });
}

/** One request; resolves with its request id if the complete answer arrived, else null. */
export async function oneRequest(url: string, stream: boolean, words: number): Promise<string | null> {
  try {
    const r = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'gpt-4o-mini',
        stream,
        messages: [{ role: 'user', content: Array.from({ length: words }, (_, i) => `w${i}`).join(' ') }],
      }),
    });
    const id = r.headers.get('x-request-id');
    const text = await r.text();
    if (r.status !== 200 || !id) return null;
    if (stream) return text.endsWith('data: [DONE]\n\n') ? id : null;
    return (JSON.parse(text) as { choices?: unknown[] }).choices?.length ? id : null;
  } catch {
    return null; // the gateway died under this request: no complete answer
  }
}

export async function crashRun(o: CrashRunOptions): Promise<CrashRunReport> {
  const log = o.log ?? (() => {});
  const random = seeded(o.seed);
  const dir = mkdtempSync(join(tmpdir(), 'entente-crash-'));
  const sim = await startSimulator({ kind: 'openai', apiKey: 'k', latencyMs: 1, tokensPerSecond: 2_000 });
  const port = await freePort();
  const cfg = writeSimGatewayConfig({ dir, sim, key: KEY, server: `port: ${port}, shutdownGraceMs: 10000` });
  const url = `http://127.0.0.1:${port}`;
  const completed = new Set<string>();
  let completedStreams = 0;
  // The lives after each kill; what each recovered is read at the end (its log line may come late).
  const restarts: Life[] = [];
  // The gateway in service now; clients wait on `alive` while it is down.
  let alive: Promise<void> = Promise.resolve();
  let revive: () => void = () => {};
  let answersThisLife = 0;
  let killAt = 0;
  let kills = 0;
  let life: Life = await startGateway(cfg);
  let stopping = false;
  // Resolved by the client whose answer reaches the life's quota: time to kill (or to stop).
  let quotaReached: () => void = () => {};
  const planLife = () => {
    killAt = o.answersPerLife[0] + Math.floor(random() * (o.answersPerLife[1] - o.answersPerLife[0] + 1));
    answersThisLife = 0;
    return new Promise<void>((r) => {
      quotaReached = r;
    });
  };
  let quota = planLife();

  const client = async () => {
    while (!stopping) {
      await alive;
      if (stopping) break;
      const stream = random() < 0.5;
      const id = await oneRequest(url, stream, 2 + Math.floor(random() * 30));
      if (!id) continue;
      completed.add(id);
      if (stream) completedStreams++;
      if (++answersThisLife === killAt) {
        if (kills < o.kills) {
          // Kill now, while the other clients' requests are in flight; they wait for the restart.
          kills++;
          alive = new Promise((r) => {
            revive = r;
          });
          life.proc.kill('SIGKILL');
        }
        quotaReached();
      }
    }
  };
  const clients = Array.from({ length: o.concurrency }, () => client());
  try {
    for (;;) {
      await quota;
      if (kills === restarts.length) break; // the last life served its quota: stop
      await life.exited;
      log(`kill ${kills}: ${completed.size} complete answers so far`);
      life = await startGateway(cfg);
      restarts.push(life);
      quota = planLife();
      revive();
    }
  } finally {
    stopping = true;
    revive();
    await Promise.all(clients);
    life.proc.kill('SIGTERM');
    await life.exited;
    await sim.close();
  }

  const store = new SqliteStore(join(dir, 'entente.db'));
  try {
    const usage = await store.listUsage({ limit: 10_000_000 });
    const rows = await store.ledgerRows();
    assertRowsBalanced(rows);
    const revenueTx = new Set(rows.filter((r) => r.code === 'revenue').map((r) => r.txId));
    const ids = [...completed];
    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'usage', 'replay', '--config', cfg]);
    return {
      kills,
      completed: completed.size,
      completedStreams,
      usageRecords: usage.length,
      ...lostAndDoubled(usage, ids),
      unposted: (await store.pendingUsage(1_000_000)).length,
      revenueTransactions: revenueTx.size,
      missingPostings: ids.filter((id) => !revenueTx.has(`revenue:${id}`)),
      replay: stdout.trim(),
      recoveredPerRestart: restarts.map((l) => l.recovered()),
    };
  } finally {
    await store.close();
  }
}

// Run directly (npm run chaos:crash): the long version, with its figures printed.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const report = await crashRun({
    kills: Number(process.env.CRASH_KILLS ?? 20),
    concurrency: Number(process.env.CRASH_CONCURRENCY ?? 24),
    answersPerLife: [50, 400],
    seed: Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 100_000)),
    log: (l) => process.stderr.write(`${l}\n`),
  });
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  process.exit(
    report.lost.length || report.doubled.length || report.missingPostings.length || report.unposted ? 1 : 0,
  );
}
