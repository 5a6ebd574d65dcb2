// A PostgreSQL server of the test's own, on its own port and folder, that the test may stop and
// start (never the machine's shared instance). Debian's binaries; run as the postgres user, since
// PostgreSQL refuses to run as root.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './random.js';

function binDir(): string | null {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return null;
  const v = readdirSync(root).sort().at(-1);
  return v && existsSync(join(root, v, 'bin', 'pg_ctl')) ? join(root, v, 'bin') : null;
}

export interface PrivatePostgres {
  readonly url: string;
  start(): void;
  /** An immediate stop: as if the server had crashed (no checkpoint, connections cut). */
  crash(): void;
  /** SIGSTOP the server and its backends: connections stay open and nothing answers. */
  freeze(): void;
  thaw(): void;
  destroy(): void;
}

/** Why a private server cannot be had here, or null when it can. */
export function privatePostgresUnavailable(): string | null {
  if (!binDir()) return 'PostgreSQL server binaries are not installed (/usr/lib/postgresql/*/bin)';
  return null;
}

export async function privatePostgres(): Promise<PrivatePostgres> {
  const bin = binDir()!;
  const dir = mkdtempSync(join(tmpdir(), 'entente-pg-'));
  const data = join(dir, 'data');
  const port = await freePort();
  const asRoot = userInfo().uid === 0;
  if (asRoot) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString()), 0);
  const run = (tool: string, args: string[]) =>
    asRoot
      ? execFileSync('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args], { stdio: 'ignore' })
      : execFileSync(join(bin, tool), args, { stdio: 'ignore' });
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const pgCtl = (...args: string[]) => run('pg_ctl', ['-D', data, '-w', ...args]);
  const server: PrivatePostgres = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    start: () =>
      pgCtl(
        '-o',
        `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
        '-l',
        join(dir, 'log'),
        'start',
      ),
    crash: () => pgCtl('-m', 'immediate', 'stop'),
    freeze: () => signalAll(data, 'SIGSTOP'),
    thaw: () => signalAll(data, 'SIGCONT'),
    destroy: () => {
      try {
        signalAll(data, 'SIGCONT');
      } catch {
        // not running
      }
      try {
        pgCtl('-m', 'immediate', 'stop');
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  server.start();
  return server;
}

/** Sends `signal` to the server's postmaster and every process it started. */
function signalAll(data: string, signal: NodeJS.Signals): void {
  const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const children = execFileSync('pgrep', ['-P', String(postmaster)])
    .toString()
    .trim()
    .split('\n')
    .map(Number);
  for (const pid of [...children, postmaster]) process.kill(pid, signal);
}
