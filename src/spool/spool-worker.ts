// The spool writer thread. It reads what the serving thread appended to the spool files, fsyncs
// them in group commits, stores the records in the database in batches and posts them to the
// ledger, all off the event loop that serves traffic. On start it recovers whatever an earlier
// process left in the spool (stored and posted idempotently by request id), then reports ready.
import {
  closeSync,
  fdatasyncSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  unlinkSync,
} from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parentPort, workerData } from 'node:worker_threads';
import { systemClock } from '../clock/index.js';
import { type LedgerSetup, postCapacityCharges, postUsage, postUsageBatches } from '../ledger/index.js';
import { openStoreAt, type Store, type UsageRecord } from '../store/index.js';
import { lowerThreadPriority } from '../threads/index.js';
import { decodeLines, SEGMENT_PATTERN, segmentName } from './format.js';
import type { FromWorker, ToWorker, WorkerInit } from './messages.js';
import { PublishedPosition } from './published.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const say = (m: FromWorker) => port.postMessage(m);
const published = new PublishedPosition(init.position);

interface Segment {
  readonly name: string;
  readonly fd: number;
  readBytes: number;
  rest: string;
  sealed: boolean;
  /** Record number of the segment's last line, once sealed. */
  lastSeq: number;
  synced: boolean;
  /** Whether the spool directory was synced since the file was created (its name is durable). */
  listed: boolean;
}

let store: Store;
let setup: LedgerSetup | null = init.setup;
const segments: Segment[] = [];
/** Records read but not stored, with the record number of each. */
const queue: { readonly seq: number; readonly record: UsageRecord }[] = [];
let readSeq = 0;
let storedSeq = 0;
let fsyncedSeq = 0;
let stored = 0;
let posted = 0;
let busy = false;
let storeTimer: NodeJS.Timeout | null = null;
let storeDueAt = 0;
let retryAfterMs = 0;
const flushes: { id: number; seq: number; posted: boolean }[] = [];
/** Records this writer stored pending because their posting failed, not yet posted by a scan. */
let unposted = false;
const postedFlushWaits = () => unposted && flushes.some((f) => f.posted);
let closing: number | null = null;
/** The segment the serving thread writes: the one after the last sealed (or recovered) one. */
let openIndex = 0;

function segmentOf(name: string): Segment {
  let s = segments.find((x) => x.name === name);
  if (!s) {
    s = {
      name,
      fd: openSync(join(init.dir, name), 'r'),
      readBytes: 0,
      rest: '',
      sealed: false,
      lastSeq: 0,
      synced: true,
      listed: false,
    };
    segments.push(s);
  }
  return s;
}

/** Reads the segment up to `bytes`; the lines read are records up to number `seq`. */
function readTo(s: Segment, bytes: number, seq: number): void {
  if (bytes <= s.readBytes) return;
  const buf = Buffer.allocUnsafe(bytes - s.readBytes);
  let off = 0;
  while (off < buf.length) {
    const n = readSync(s.fd, buf, off, buf.length - off, s.readBytes + off);
    if (n === 0) break;
    off += n;
  }
  s.readBytes += off;
  s.synced = false;
  const d = decodeLines(s.rest + buf.subarray(0, off).toString('utf8'));
  s.rest = d.rest;
  if (d.corrupt > 0)
    say({ type: 'warn', message: `spool ${s.name}: lines failed their checksum`, count: d.corrupt });
  // Lines are numbered backwards from the last one the serving thread announced.
  const first = seq - d.records.length + 1;
  for (let i = 0; i < d.records.length; i++) queue.push({ seq: first + i, record: d.records[i]! });
  readSeq = seq;
}

/**
 * Reads what the serving thread has published since the last call. A publication for a later
 * segment than the open one waits: the sealed message of the open one is on its way, and its
 * lines come first.
 */
function catchUp(): void {
  const p = published.read();
  if (p === null || p.index !== openIndex || p.seq <= readSeq) return;
  readTo(segmentOf(segmentName(p.index)), p.bytes, p.seq);
  scheduleStore();
}

function groupCommit(): void {
  catchUp();
  for (const s of segments)
    if (!s.synced) {
      // fsync(2) of a new file does not make its directory entry durable: without a sync of the
      // directory, an OS crash could lose the whole file. Once per segment.
      if (!s.listed) syncDirectory();
      fdatasyncSync(s.fd);
      s.synced = true;
    }
  if (readSeq > fsyncedSeq) {
    fsyncedSeq = readSeq;
    if (init.reportFsynced) say({ type: 'fsynced', seq: fsyncedSeq });
  }
}

function syncDirectory(): void {
  const fd = openSync(init.dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  for (const s of segments) s.listed = true;
}

/**
 * Plans the next store run. An already planned run is only ever brought forward, never pushed
 * back: callers come often (every pending scan, every message), and a timer reset on each call
 * would never fire.
 */
function scheduleStore(now = false): void {
  if (busy) return;
  const urgent = now || queue.length >= init.batchSize || flushes.length > 0 || closing !== null;
  // After a failure, the back-off holds even for a waiting flush: no tight retry loop.
  const delay = retryAfterMs > 0 ? retryAfterMs : urgent ? 0 : init.flushIntervalMs;
  const dueAt = performance.now() + delay;
  if (storeTimer && storeDueAt <= dueAt) return;
  if (storeTimer) clearTimeout(storeTimer);
  storeDueAt = dueAt;
  storeTimer = setTimeout(() => void storeBatch(), delay);
}

async function storeBatch(): Promise<void> {
  storeTimer = null;
  if (busy) return;
  busy = true;
  try {
    while (queue.length > 0) await (setup ? postQueued(setup) : appendQueued());
    // Flushes that wait for storing only are answered now, whatever posting what failed does;
    // those that wait for postings too, once what failed has been posted.
    if (storedSeq >= readSeq) answerFlushes();
    if (postedFlushWaits()) {
      await postUnposted();
      answerFlushes();
    }
    retryAfterMs = 0;
  } catch (err) {
    retryAfterMs = Math.min(Math.max(retryAfterMs * 2, 250), 5_000);
    say({
      type: 'error',
      message: `storing usage failed, will retry in ${retryAfterMs} ms: ${(err as Error).message}`,
    });
  } finally {
    busy = false;
  }
  afterWork();
}

/** Whatever waits once the store is free: more records, a flush waiting for postings, or the close. */
function afterWork(): void {
  if (queue.length > 0 || postedFlushWaits()) scheduleStore();
  else if (closing !== null && storedSeq >= closing) void finishClose();
}

/** The first `n` queued records are stored, `postedNow` of them posted: tell the serving side. */
function markStored(n: number, postedNow: number): void {
  storedSeq = queue[n - 1]!.seq;
  queue.splice(0, n);
  stored += n;
  posted += postedNow;
  say({ type: 'stored', seq: storedSeq, stored, posted });
  dropStoredSegments();
}

/** With no ledger: stores the next batch of the queue, pending. */
async function appendQueued(): Promise<void> {
  const n = Math.min(queue.length, init.batchSize);
  await store.appendUsage(queue.slice(0, n).map((x) => x.record));
  markStored(n, 0);
}

/**
 * Stores and posts the queue in batches, each in one database transaction, in order, preparing
 * the next batch while the database writes one (postUsageBatches). When posting a batch fails (a
 * bug the ledger's invariants caught, say), that batch is stored anyway, pending: durable in the
 * database, posted by a later scan. A new ledger setup ends the run; the next one uses it.
 */
async function postQueued(s: LedgerSetup): Promise<void> {
  const sizes: number[] = [];
  let taken = 0;
  const next = () => {
    if (setup !== s || taken >= queue.length) return null;
    const n = Math.min(queue.length - taken, init.batchSize);
    const batch = queue.slice(taken, taken + n).map((x) => x.record);
    taken += n;
    sizes.push(n);
    return batch;
  };
  try {
    await postUsageBatches(store, next, s, {
      storeRecords: true,
      posted: (_batch, result) => {
        const n = sizes.shift()!;
        taken -= n;
        markStored(n, result.posted);
      },
    });
  } catch (err) {
    say({
      type: 'error',
      message: `ledger posting failed, the records are stored pending: ${(err as Error).message}`,
    });
    const n = sizes[0] ?? Math.min(queue.length, init.batchSize);
    await store.appendUsage(queue.slice(0, n).map((x) => x.record));
    unposted = true;
    markStored(n, 0);
  }
}

/** Posts what is pending (this writer's failed postings among it); throws if that fails too. */
async function postUnposted(): Promise<void> {
  await postPending();
  unposted = false;
}

function answerFlushes(): void {
  for (let i = flushes.length - 1; i >= 0; i--) {
    const f = flushes[i]!;
    if (f.seq <= storedSeq && !(f.posted && unposted))
      say({ type: 'flushed', id: flushes.splice(i, 1)[0]!.id });
  }
}

function dropStoredSegments(): void {
  const stored = segments.filter((s) => s.sealed && s.lastSeq <= storedSeq);
  if (stored.length === 0) return;
  // The files are about to go: the store's copy of their records must survive what the files
  // would have (an OS crash), not only a crash of this process.
  store.syncCommitted?.();
  for (const s of stored) {
    closeSync(s.fd);
    unlinkSync(join(init.dir, s.name));
    segments.splice(segments.indexOf(s), 1);
  }
}

/** Posts what is pending in the store: failed posts, records another node stored. */
async function postPending(): Promise<void> {
  if (!setup) return;
  for (;;) {
    const batch = await store.pendingUsage(500);
    if (batch.length > 0) posted += (await postUsage(store, batch, setup)).posted;
    if (batch.length < 500) break;
  }
  if (setup.capacity && setup.capacity.length > 0) {
    const c = await postCapacityCharges(
      store,
      setup.capacity,
      setup.priceBooks.currency,
      systemClock.now(),
      chargesKnown,
    );
    for (const id of c.conflicts.filter((x) => !conflictsSaid.has(x))) {
      conflictsSaid.add(id);
      say({
        type: 'error',
        message: `capacity charge ${id} was posted with another amount; it is not rewritten`,
      });
    }
  }
}
const conflictsSaid = new Set<string>();
/** Capacity charges known to be posted: the ledger is asked again only when a month begins. */
const chargesKnown = new Set<string>();

/** Gives this thread the nice value `nice` (src/threads); where that fails, the writer says so once. */
function lowerPriority(nice: number): void {
  const problem = lowerThreadPriority(nice);
  if (problem) say({ type: 'warn', message: `usage.writerNice ${nice} not applied: ${problem}`, count: 1 });
}

/** Stores and posts whatever earlier processes left in the spool, then removes those files. */
async function recover(): Promise<{ nextIndex: number; recovered: number; added: number; corrupt: number }> {
  const names = readdirSync(init.dir)
    .filter((n) => SEGMENT_PATTERN.test(n))
    .sort();
  let recovered = 0;
  let corrupt = 0;
  const before = names.length > 0 ? await store.countUsage() : 0;
  for (const name of names) {
    const d = decodeLines(readFileSync(join(init.dir, name), 'utf8'));
    corrupt += d.corrupt;
    for (let i = 0; i < d.records.length; i += init.batchSize) {
      const batch = d.records.slice(i, i + init.batchSize);
      await store.appendUsage(batch);
      recovered += batch.length;
    }
  }
  const added = names.length > 0 ? (await store.countUsage()) - before : 0;
  await postPending();
  // Only now, with every record stored and posted, and durably so, are the files removed.
  if (names.length > 0) store.syncCommitted?.();
  for (const name of names) unlinkSync(join(init.dir, name));
  const last = names.at(-1);
  return { nextIndex: last ? Number(SEGMENT_PATTERN.exec(last)![1]) + 1 : 1, recovered, added, corrupt };
}

async function finishClose(): Promise<void> {
  if (closing === null) return;
  closing = null;
  try {
    groupCommit();
    await postPending();
    for (const s of segments) s.sealed = true;
    dropStoredSegments();
    await store.close();
  } finally {
    say({ type: 'closed' });
  }
}

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'sealed': {
      const s = segmentOf(segmentName(m.index));
      readTo(s, m.bytes, m.seq);
      s.sealed = true;
      s.lastSeq = m.seq;
      openIndex = m.index + 1;
      catchUp();
      scheduleStore();
      return;
    }
    case 'setup':
      setup = m.setup;
      chargesKnown.clear();
      return;
    case 'flush':
      catchUp();
      flushes.push({ id: m.id, seq: m.seq, posted: m.posted });
      if (storedSeq >= m.seq && queue.length === 0 && !postedFlushWaits()) answerFlushes();
      else scheduleStore(true);
      return;
    case 'close':
      closing = m.seq;
      if (storedSeq >= m.seq && queue.length === 0 && !busy) void finishClose();
      else scheduleStore(true);
      return;
  }
});

lowerPriority(init.nice);
store = await openStoreAt(init.location);
const ready = await recover();
openIndex = ready.nextIndex;
say({ type: 'ready', ...ready });
setInterval(groupCommit, init.fsyncIntervalMs).unref();
setInterval(() => {
  if (busy) return;
  busy = true;
  postUnposted()
    .then(() => {
      if (storedSeq >= readSeq) answerFlushes();
    })
    .catch((err: unknown) =>
      say({ type: 'error', message: `posting pending usage failed: ${(err as Error).message}` }),
    )
    // The gateway's serving connection leaves checkpoints to this thread (src/store/types.ts).
    .then(() => store.checkpoint())
    .catch((err: unknown) =>
      say({
        type: 'warn',
        message: `checkpointing the database failed: ${(err as Error).message}`,
        count: 1,
      }),
    )
    .finally(() => {
      busy = false;
      afterWork();
    });
}, init.scanIntervalMs).unref();
