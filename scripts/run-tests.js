#!/usr/bin/env node
// Runs every compiled test with Node's own test runner. Service-backed tests (PostgreSQL) run
// when the service answers; with ENTENTE_REQUIRE_SERVICES=1 (as .ci/run sets) a missing service
// fails the run instead of skipping, and without it the skip is said in one visible line.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';

const root = new URL('..', import.meta.url).pathname;
const pgUrl = process.env.ENTENTE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const required = process.env.ENTENTE_REQUIRE_SERVICES === '1';

async function reachable(url) {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

const env = { ...process.env };
if (await reachable(pgUrl)) {
  env.ENTENTE_TEST_PG_URL = pgUrl;
} else if (required) {
  console.error(`PostgreSQL is required (ENTENTE_REQUIRE_SERVICES=1) but does not answer at ${pgUrl}`);
  process.exit(1);
} else {
  delete env.ENTENTE_TEST_PG_URL;
  console.log(
    `NOTE: PostgreSQL does not answer at ${pgUrl}: the PostgreSQL tests are skipped (set ENTENTE_REQUIRE_SERVICES=1 to fail instead).`,
  );
}

const filter = process.argv.slice(2);
const files = findTests(join(root, 'dist', 'test')).filter(
  (f) => filter.length === 0 || filter.some((x) => f.includes(x)),
);
const child = spawn(process.execPath, ['--test', '--test-concurrency=2', '--test-timeout=120000', ...files], {
  stdio: 'inherit',
  env,
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
