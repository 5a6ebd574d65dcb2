#!/usr/bin/env node
// Runs every compiled test with Node's own test runner. Service-backed tests (PostgreSQL, Redis) run
// when the service answers; with ENTENTE_REQUIRE_SERVICES=1 (as .ci/run sets) a missing service
// fails the run instead of skipping, and without it the skip is said in one visible line.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';

const root = new URL('..', import.meta.url).pathname;
const pgUrl = process.env.ENTENTE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const redisUrl = process.env.ENTENTE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const required = process.env.ENTENTE_REQUIRE_SERVICES === '1';

async function redisAnswers(url) {
  const r = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  r.on('error', () => {});
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

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

if (await redisAnswers(redisUrl)) {
  env.ENTENTE_TEST_REDIS_URL = redisUrl;
} else if (required) {
  console.error(`Redis is required (ENTENTE_REQUIRE_SERVICES=1) but does not answer at ${redisUrl}`);
  process.exit(1);
} else {
  delete env.ENTENTE_TEST_REDIS_URL;
  console.log(
    `NOTE: Redis does not answer at ${redisUrl}: the fleet tests are skipped (set ENTENTE_REQUIRE_SERVICES=1 to fail instead).`,
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
