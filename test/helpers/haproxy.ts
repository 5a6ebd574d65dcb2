// Debian's HAProxy in front of up to three gateway nodes, running examples/cluster/haproxy.cfg
// itself (the file users deploy), on a free port. Up once its health checks see the nodes ready.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually } from './eventually.js';
import { freePort } from './random.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));

export function haproxyUnavailable(): string | null {
  return spawnSync('haproxy', ['-v']).status === 0
    ? null
    : 'haproxy is not installed (apt-get install -y haproxy)';
}

export interface Haproxy {
  readonly url: string;
  readonly proc: ChildProcess;
  close(): Promise<void>;
}

/** `nodes`: host:port of each node (one to three; fewer are repeated). */
export async function startHaproxy(nodes: readonly string[]): Promise<Haproxy> {
  const port = await freePort();
  const proc = spawn('haproxy', ['-db', '-f', join(root, 'examples/cluster/haproxy.cfg')], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      ENTENTE_LB_PORT: String(port),
      ENTENTE_NODE1: nodes[0]!,
      ENTENTE_NODE2: nodes[1] ?? nodes[0]!,
      ENTENTE_NODE3: nodes[2] ?? nodes[0]!,
    },
  });
  const url = `http://127.0.0.1:${port}`;
  // Up once HAProxy's health checks have seen the nodes ready (rise 2 × 500 ms).
  await eventually(
    () =>
      fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      ),
    'HAProxy to route to the nodes',
  );
  return {
    url,
    proc,
    close: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGKILL');
      }),
  };
}
