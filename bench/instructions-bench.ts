// Instructions a request costs, plain Entente beside Entente as shipped, counted by valgrind's
// callgrind rather than timed: the spool writer's database path alone (bench/writer-path.ts),
// then whole requests through the gateway. On this VM the same build's throughput drifts by up to
// 2× within minutes, so a 5% difference in CPU cannot be told from noise by the clock; an
// instruction count can. Each gateway runs under callgrind with instrumentation off while it
// warms up (so the JIT has compiled the request path before counting starts); then the counters
// are zeroed, an idle spell is counted (timers, polls: work that grows with wall time, which
// valgrind stretches), then a fixed batch of requests, waiting until the spool writer has stored
// (and, as shipped, posted) every record. Reported per request and per thread (the serving
// thread, the spool writer, the rest: V8's helpers and libuv's pool), with the idle rate
// subtracted.
//
//   npm run bench:instructions
//   INSTR_PARTS=writer INSTR_DIST=/tmp/old/dist,dist npm run bench:instructions   # two builds' writers
//   INSTR_REQUESTS=5000 INSTR_WARMUP=8000 INSTR_ROUNDS=3 INSTR_BATCH=1000 INSTR_MODE=json|stream \
//     npm run bench:instructions
//   INSTR_PARTS=gateway,portkey npm run bench:instructions   # Portkey's count beside as shipped's
//
// Needs valgrind (`apt-get install -y valgrind`). User-space instructions only: what the kernel
// does for a request's sockets is the same for both and is not counted. An instruction count is a
// proxy for CPU time, not a measure of it (a cache miss costs more than an add); its virtue is
// that it repeats.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { fixedBatch, portkeyTarget, root, SERVE_NODE_FLAGS, start, writeBenchConfig } from './processes.js';

const requests = Number(process.env.INSTR_REQUESTS ?? 5000);
const warmup = Number(process.env.INSTR_WARMUP ?? 8000);
const idleMs = Number(process.env.INSTR_IDLE_MS ?? 3000);
const stream = process.env.INSTR_MODE === 'stream';
const rounds = Number(process.env.INSTR_ROUNDS ?? 3);
const parts = (process.env.INSTR_PARTS ?? 'writer,gateway').split(',');
let mockPort = 0;
// The writer stores once it holds this many records, or 20 s after the first (the last few of a
// round): at saturation on this VM (7,000–9,000 requests/s, 100 ms batches) it stores 700–900 at
// a time, while under valgrind, 50 times slower, its 100 ms would gather a dozen, and what a
// batch costs whatever its size would weigh 70 times what it does.
const batch = Number(process.env.INSTR_BATCH ?? 1000);
const portkeyRequests = Number(process.env.INSTR_PORTKEY_REQUESTS ?? 1000);
const portkeyWarmup = Number(process.env.INSTR_PORTKEY_WARMUP ?? 3000);

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `ok` (read from outside the gateway, so the waiting costs it nothing) until it holds. */
async function until(what: string, ok: () => boolean, timeoutMs = 300_000): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await delay(100);
  }
}

interface Counts {
  readonly serving: number;
  readonly writer: number;
  /** V8's helper threads and libuv's pool, compiling left out. */
  readonly rest: number;
  /** Optimising compilation, on any thread: the JIT's warm-up, not a request's own cost. */
  readonly compile: number;
}

/** V8's optimising compilers (TurboFan, Turboshaft, Maglev): code being compiled, not run. */
const COMPILER = /v8::internal::(?:compiler|maglev)::/;

/**
 * Self cost per thread of one callgrind output file, with what V8's optimising compilers spent
 * set apart. The format (valgrind.org/docs/manual/cl-format.html): `fn=(id) name` opens a
 * function (a name is given once, there or in a `cfn=` line, and its id alone after that), cost
 * lines are `<position> <Ir>`, and the line after a `calls=` line is that call's inclusive cost,
 * which is the callee's, not the caller's.
 */
function selfCosts(text: string): { total: number; compile: number } {
  const names = new Map<string, string>();
  let compiling = false;
  let afterCall = false;
  let total = 0;
  let compile = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('fn=')) {
      const m = /^fn=\((\d+)\)(?: (.*))?$/.exec(line);
      const name = m ? (m[2] ?? names.get(m[1]!) ?? '') : line.slice(3);
      if (m?.[2] !== undefined) names.set(m[1]!, m[2]);
      compiling = COMPILER.test(name);
      continue;
    }
    if (line.startsWith('cfn=')) {
      // A callee's name is given once too, in the same numbering as fn=.
      const m = /^cfn=\((\d+)\) (.*)$/.exec(line);
      if (m) names.set(m[1]!, m[2]!);
      continue;
    }
    if (line.startsWith('calls=')) {
      afterCall = true;
      continue;
    }
    const c = line.charCodeAt(0);
    const isCost = (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 42;
    if (!isCost) continue;
    if (afterCall) {
      afterCall = false;
      continue;
    }
    const ir = Number(line.slice(line.lastIndexOf(' ') + 1));
    total += ir;
    if (compiling) compile += ir;
  }
  return { total, compile };
}

/** The per-thread totals of the dump callgrind just wrote (files `cg.<pid>.<n>-<thread>`). */
function readDump(dir: string, pid: number, n: number): Counts {
  const files = readdirSync(dir).filter((f) => f.startsWith(`cg.${pid}.${n}-`));
  if (files.length === 0) throw new Error(`no callgrind dump ${n} in ${dir}`);
  let serving = 0;
  let writer = 0;
  let rest = 0;
  let compile = 0;
  for (const f of files) {
    const text = readFileSync(join(dir, f), 'utf8');
    const c = selfCosts(text);
    compile += c.compile;
    const own = c.total - c.compile;
    // The spool writer is the thread that fsyncs the spool; the serving thread is thread 1.
    if (f.endsWith('-01')) serving += own;
    else if (/fdatasync/.test(text)) writer += own;
    else rest += own;
  }
  return { serving, writer, rest, compile };
}

/** valgrind's arguments to run node under callgrind, counting off until turned on, dumps in `dir`. */
const callgrindArgs = (dir: string): string[] => [
  '--tool=callgrind',
  '--instr-atstart=no',
  '--separate-threads=yes',
  // V8 writes and rewrites machine code in its heap: valgrind must notice.
  '--smc-check=all-non-file',
  `--callgrind-out-file=${dir}/cg.%p`,
  process.execPath,
];

/**
 * Turns counting on in the callgrind process `pid` (dumping into `dir`), then for each of `rounds`
 * rounds counts an idle spell and a batch (`batch` resolves once its `n` requests are done): the
 * batch's instructions per request by thread, the idle rate times the batch's duration taken off.
 */
async function countedRounds(
  pid: number,
  dir: string,
  n: number,
  batch: () => Promise<void>,
): Promise<{ perRequest: Counts; idlePerS: Counts }[]> {
  const control = (...args: string[]) => execFileSync('callgrind_control', [...args, String(pid)]);
  const map = (f: (k: keyof Counts) => number): Counts => ({
    serving: f('serving'),
    writer: f('writer'),
    rest: f('rest'),
    compile: f('compile'),
  });
  let dumps = 0;
  const out: { perRequest: Counts; idlePerS: Counts }[] = [];
  control('-i', 'on');
  for (let r = 0; r < rounds; r++) {
    control('-z');
    const i0 = Date.now();
    await delay(idleMs);
    control('-d');
    const idleS = (Date.now() - i0) / 1000;
    const idle = readDump(dir, pid, ++dumps);
    control('-z');
    const t0 = Date.now();
    await batch();
    control('-d');
    const s = (Date.now() - t0) / 1000;
    const busy = readDump(dir, pid, ++dumps);
    const idlePerS = map((k) => idle[k] / idleS);
    out.push({ perRequest: map((k) => (busy[k] - idlePerS[k] * s) / n), idlePerS });
  }
  return out;
}

async function measure(shipped: boolean) {
  const dir = mkdtempSync(join(tmpdir(), 'entente-instr-'));
  const cfg = writeBenchConfig(dir, mockPort, {
    shipped,
    extraYaml: `usage: { batchSize: ${batch}, flushIntervalMs: 20000 }`,
  });
  const g = await start(
    0,
    'valgrind',
    [...callgrindArgs(dir), ...SERVE_NODE_FLAGS, join(root, 'bin/entente.js'), 'serve', '--config', cfg],
    /API at http:\/\/[\d.:]+\/v1/,
    { ...process.env, ENTENTE_LOG_LEVEL: 'info' },
    180_000,
  );
  const pid = g.proc.pid!;
  const url = `${/API at (http:\/\/[\d.:]+)\/v1/.exec(g.out)![1]}/v1/chat/completions`;
  const db = new Database(join(dir, 'entente.db'), { readonly: true, fileMustExist: true });
  const count = db.prepare(
    shipped
      ? 'SELECT count(*) FROM usage_records WHERE ledger_status = 1'
      : 'SELECT count(*) FROM usage_records',
  );
  const counted = () => Number(count.pluck().get());
  try {
    let sent = 0;
    for (let w = 0; w < warmup; w += 1000) {
      await fixedBatch(url, Math.min(1000, warmup - w), stream);
      sent += Math.min(1000, warmup - w);
    }
    await until('the warm-up to be stored', () => counted() >= sent);
    return await countedRounds(pid, dir, requests, async () => {
      await fixedBatch(url, requests, stream);
      sent += requests;
      await until('the batch to be stored', () => counted() >= sent);
    });
  } finally {
    db.close();
    g.proc.kill('SIGTERM');
    await new Promise((r) => g.proc.once('exit', r));
  }
}

/**
 * Portkey (@portkey-ai/gateway 1.15.2, as `npm run bench` runs it) under callgrind the same way:
 * warmed up uncounted, then an idle spell and `rounds` batches counted, all threads. Its answer
 * is complete when the client has it (nothing is stored after), so a batch ends when autocannon
 * does. Fewer requests a round than Entente's: each costs about ten times as much.
 */
async function measurePortkey(): Promise<Counts[]> {
  const dir = mkdtempSync(join(tmpdir(), 'portkey-instr-'));
  const pk = await portkeyTarget(18788, mockPort);
  const p = await start(0, 'valgrind', [...callgrindArgs(dir), ...pk.args], pk.ready, process.env, 180_000);
  const pid = p.proc.pid!;
  const { url, headers } = pk;
  try {
    for (let w = 0; w < portkeyWarmup; w += 500)
      await fixedBatch(url, Math.min(500, portkeyWarmup - w), stream, headers);
    const runs = await countedRounds(pid, dir, portkeyRequests, async () => {
      await fixedBatch(url, portkeyRequests, stream, headers);
    });
    return runs.map((r) => r.perRequest);
  } finally {
    p.proc.kill('SIGTERM');
    await new Promise((r) => p.proc.once('exit', r));
  }
}

/** Instructions per record of the writer's database path in isolation (bench/writer-path.ts). */
function writerPath(dist: string, mode: 'append' | 'unit'): number {
  const r = spawnSync(
    'valgrind',
    [
      '--tool=callgrind',
      '--instr-atstart=no',
      '--smc-check=all-non-file',
      `--callgrind-out-file=${join(mkdtempSync(join(tmpdir(), 'entente-instr-writer-')), 'cg.out')}`,
      process.execPath,
      join(dist, 'bench/writer-path.js'),
      mode,
    ],
    { encoding: 'utf8' },
  );
  const collected = /Collected : (\d+)/.exec(r.stderr);
  if (r.status !== 0 || !collected) throw new Error(`writer-path ${mode} failed: ${r.stderr.slice(-2000)}`);
  const { records } = JSON.parse(r.stdout) as { records: number };
  return Number(collected[1]) / records;
}

const k = (x: number) => (x / 1000).toFixed(1);
const lines: string[] = [];
if (parts.includes('writer')) {
  // INSTR_DIST: the dist folders of builds to compare (another checkout's, say), this one's by default.
  const dists = (process.env.INSTR_DIST ?? join(root, 'dist')).split(',');
  lines.push(
    "# The writer's database path in isolation: instructions per record (callgrind; thousands)",
    '',
    '| build | store only (plain) | store, price and post (as shipped) | as shipped / plain | added |',
    '|---|---|---|---|---|',
  );
  for (const dist of dists) {
    const append = writerPath(dist, 'append');
    const unit = writerPath(dist, 'unit');
    lines.push(
      `| ${dist} | ${k(append)} | ${k(unit)} | ×${(unit / append).toFixed(3)} | +${k(unit - append)} |`,
    );
  }
  lines.push('');
  process.stdout.write(`${lines.join('\n')}\n`);
  lines.length = 0;
}

/** Plain and as shipped through the gateway; as shipped's totals are kept for Portkey's part. */
let shippedTotal: number | null = null;
async function gatewayPart(): Promise<void> {
  const plain = await measure(false);
  const shipped = await measure(true);
  const total = (c: Counts) => c.serving + c.writer + c.rest;
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const medianOf = (side: typeof plain, key: keyof Counts | 'total') =>
    med(side.map((x) => (key === 'total' ? total(x.perRequest) : x.perRequest[key])));
  lines.push(
    `# Instructions per ${stream ? 'streamed' : 'JSON'} request through the gateway (callgrind; ${requests} requests a round after ${warmup} to warm up; usage stored ${batch} records a batch; thousands)`,
    '',
    '| round | plain: serving / writer / rest = total (+ compiling) | as shipped: serving / writer / rest = total (+ compiling) | as shipped / plain |',
    '|---|---|---|---|',
    ...plain.map((p, i) => {
      const a = p.perRequest;
      const b = shipped[i]!.perRequest;
      return `| ${i + 1} | ${k(a.serving)} / ${k(a.writer)} / ${k(a.rest)} = ${k(total(a))} (+ ${k(a.compile)}) | ${k(b.serving)} / ${k(b.writer)} / ${k(b.rest)} = ${k(total(b))} (+ ${k(b.compile)}) | ×${(total(b) / total(a)).toFixed(3)} |`;
    }),
    `| median | ${(['serving', 'writer', 'rest'] as const).map((x) => k(medianOf(plain, x))).join(' / ')} = ${k(medianOf(plain, 'total'))} | ${(['serving', 'writer', 'rest'] as const).map((x) => k(medianOf(shipped, x))).join(' / ')} = ${k(medianOf(shipped, 'total'))} | ×${(medianOf(shipped, 'total') / medianOf(plain, 'total')).toFixed(3)} |`,
    '',
    // The serving thread and the writer repeat to within a few percent; the rest moves with V8's
    // lumps of collecting and compiling.
    `Serving thread and writer (medians), plain / as shipped: ${k(medianOf(plain, 'serving') + medianOf(plain, 'writer'))} / ${k(medianOf(shipped, 'serving') + medianOf(shipped, 'writer'))} = ×${((medianOf(shipped, 'serving') + medianOf(shipped, 'writer')) / (medianOf(plain, 'serving') + medianOf(plain, 'writer'))).toFixed(3)}`,
    `Idle (subtracted), thousands of instructions a second, plain / as shipped: ${k(total(plain[0]!.idlePerS))} / ${k(total(shipped[0]!.idlePerS))}`,
  );
  shippedTotal = medianOf(shipped, 'total');
  process.stdout.write(`${lines.join('\n')}\n`);
  lines.length = 0;
}

async function portkeyPart(): Promise<void> {
  const runs = await measurePortkey();
  const total = (c: Counts) => c.serving + c.writer + c.rest;
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const t = med(runs.map(total));
  lines.push(
    `# Portkey 1.15.2, instructions per ${stream ? 'streamed' : 'JSON'} request (callgrind; ${portkeyRequests} requests a round after ${portkeyWarmup} to warm up; thousands)`,
    '',
    '| round | main thread / rest = total (+ compiling) |',
    '|---|---|',
    ...runs.map(
      (c, i) =>
        `| ${i + 1} | ${k(c.serving)} / ${k(c.writer + c.rest)} = ${k(total(c))} (+ ${k(c.compile)}) |`,
    ),
    `| median | ${k(t)} |`,
    '',
    ...(shippedTotal === null
      ? []
      : [
          `Portkey / Entente as shipped, all threads: ${k(t)} / ${k(shippedTotal)} = ×${(t / shippedTotal).toFixed(2)}`,
        ]),
  );
  process.stdout.write(`${lines.join('\n')}\n`);
  lines.length = 0;
}

if (parts.includes('gateway') || parts.includes('portkey')) {
  const mock = await start(1, process.execPath, [join(root, 'dist/bench/mock-upstream.js')], /"port":\d+/);
  mockPort = Number(/"port":(\d+)/.exec(mock.out)![1]);
  try {
    if (parts.includes('gateway')) await gatewayPart();
    if (parts.includes('portkey')) await portkeyPart();
  } finally {
    mock.proc.kill('SIGTERM');
  }
}
