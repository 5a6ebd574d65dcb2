// What an OS crash could take from the usage path, checked on the system calls themselves: the
// spool on SQLite runs under strace (test/helpers/spool-syscalls.ts), and the order of its file
// calls must be the one that keeps every record on disk somewhere:
// - a new segment's directory entry is synced (fsync of the spool directory) before the
//   segment's first fdatasync, which is what `durability: os` and the group commit rely on: a
//   synced file whose name was never synced can vanish whole (a segment stored and deleted before
//   a group commit came round is never synced: the database holds its records durably first);
// - no segment is deleted (unlink) before SQLite's write-ahead log, holding the records the
//   segment carried, has been synced after its last write: SQLite runs `synchronous = NORMAL`,
//   whose commits an OS crash can undo.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const strace = spawnSync('strace', ['-V']).status === 0;
const skip =
  !strace && process.env.ENTENTE_REQUIRE_SERVICES !== '1'
    ? 'strace is not installed (apt-get install -y strace)'
    : false;

interface Call {
  readonly pid: string;
  readonly name: string;
  /** The path of the first argument's descriptor (strace -y), or of a path argument. */
  readonly path: string;
  /** The path of a descriptor returned (openat). */
  readonly returned: string;
  readonly args: string;
  /** Index of the line the call began on, and of the one it ended on. */
  readonly began: number;
  readonly ended: number;
}

/** strace -f -y output → calls; a call another thread interrupted is joined to its resumption. */
function parseTrace(text: string): Call[] {
  const calls: Call[] = [];
  const open = new Map<string, { head: string; began: number }>();
  text.split('\n').forEach((line, i) => {
    const m = /^(\d+)\s+(.*)$/.exec(line);
    if (!m) return;
    const [, pid, rest] = m as unknown as [string, string, string];
    let whole: string;
    let began = i;
    if (rest.endsWith('<unfinished ...>')) {
      open.set(pid, { head: rest.slice(0, -'<unfinished ...>'.length).trimEnd(), began: i });
      return;
    }
    const resumed = /^<\.\.\. \w+ resumed>(.*)$/.exec(rest);
    if (resumed) {
      const o = open.get(pid);
      if (!o) return;
      open.delete(pid);
      whole = o.head + resumed[1]!;
      began = o.began;
    } else whole = rest;
    const c = /^(\w+)\((.*)\)\s*=\s*(.*)$/.exec(whole);
    if (!c) return;
    const [, name, args, ret] = c as unknown as [string, string, string, string];
    const fdPath = /^-?\d+<([^>]*)>/.exec(args)?.[1] ?? /"([^"]*)"/.exec(args)?.[1] ?? '';
    calls.push({
      pid,
      name,
      path: name.startsWith('unlink') || name === 'openat' ? (/"([^"]*)"/.exec(args)?.[1] ?? '') : fdPath,
      returned: /^\d+<([^>]*)>/.exec(ret)?.[1] ?? '',
      args,
      began,
      ended: i,
    });
  });
  return calls;
}

const helper = fileURLToPath(new URL('./helpers/spool-syscalls.js', import.meta.url));
const isSegment = (p: string) => /\/usage-\d{10}\.spool$/.test(p);
const isSync = (c: Call) => c.name === 'fsync' || c.name === 'fdatasync';

test('spool files: a segment is listed durably before it is synced, and deleted only after the database log is synced', {
  skip,
}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'entente-syscalls-'));
  const traceFile = join(dir, 'trace.txt');
  const run = spawnSync(
    'strace',
    [
      '-f',
      '-y',
      '-qq',
      '-e',
      'trace=openat,fsync,fdatasync,unlink,unlinkat,pwrite64,write',
      '-o',
      traceFile,
      process.execPath,
      helper,
      dir,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(run.status, 0, `the spool run failed: ${run.stderr}`);
  assert.deepEqual(JSON.parse(run.stdout), { recovered: 3, stored: 1_203 });
  const calls = parseTrace(readFileSync(traceFile, 'utf8'));
  const spoolDir = join(dir, 'spool');
  const wal = join(dir, 'entente.db-wal');

  // Segments the serving thread created and wrote records to (the recovered one was written by
  // the helper itself; the segment opened by the last rotation may stay empty).
  const created = calls.filter(
    (c) =>
      c.name === 'openat' &&
      /O_CREAT/.test(c.args) &&
      /O_APPEND/.test(c.args) &&
      calls.some((w) => w.name === 'write' && w.path === c.path),
  );
  assert.ok(created.length >= 8, `rotations happened: ${created.length} segments created`);
  const unlinks = calls.filter((c) => c.name.startsWith('unlink') && isSegment(c.path));
  let synced = 0;
  for (const c of created) {
    const firstSync = calls.find((s) => s.name === 'fdatasync' && s.path === c.path && s.began > c.ended);
    if (!firstSync) {
      // Stored and deleted before a group commit came round (the writer's thread was busy, say):
      // its records were durable in the database first, which the unlinks' check below holds.
      assert.ok(
        unlinks.some((u) => u.path === c.path),
        `${c.path} was synced, or stored and deleted`,
      );
      continue;
    }
    synced++;
    const dirSync = calls.find(
      (s) => s.name === 'fsync' && s.path === spoolDir && s.began > c.ended && s.ended < firstSync.began,
    );
    assert.ok(
      dirSync,
      `the spool directory was synced after ${c.path} was created and before its first fdatasync`,
    );
  }

  assert.ok(synced >= created.length / 2, `most segments were synced by group commits: ${synced}`);
  assert.ok(unlinks.length >= created.length, `every stored segment was deleted: ${unlinks.length}`);
  assert.ok(
    unlinks.some((u) => u.path.endsWith('usage-0000000003.spool')),
    'the recovered segment was deleted',
  );
  for (const u of unlinks) {
    const before = calls.filter((c) => c.ended < u.began);
    const lastWrite = before.filter((c) => c.name === 'pwrite64' && c.path === wal).at(-1);
    assert.ok(lastWrite, `the database log was written before ${u.path} was deleted`);
    const walSynced = before.some((c) => isSync(c) && c.path === wal && c.began > lastWrite.ended);
    assert.ok(walSynced, `the database log was synced after its last write and before ${u.path} was deleted`);
  }
});
