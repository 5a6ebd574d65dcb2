// Waiting on a condition instead of sleeping a fixed time: checks `check` again every couple of
// milliseconds (I/O callbacks run in between) until it returns something truthy, and fails with
// `what` if that takes longer than the timeout. How long it takes never decides a test's verdict,
// so the timeout is generous: CI runs two test files at once, and on a saturated machine the
// spool's writer thread, at a lowered priority, was seen to take over 10 s to post a few records.
import { setTimeout as tick } from 'node:timers/promises';

export async function eventually<T>(
  check: () => T | Promise<T>,
  what: string,
  timeoutMs = 30_000,
): Promise<NonNullable<T>> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  const hung = Symbol('hung');
  for (;;) {
    try {
      // A check that never settles must not hang the test past its deadline either.
      let timer: NodeJS.Timeout | undefined;
      const v = await Promise.race([
        check(),
        new Promise<typeof hung>((r) => {
          timer = setTimeout(() => r(hung), Math.max(1, deadline - performance.now()));
        }),
      ]).finally(() => clearTimeout(timer));
      if (v === hung)
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (a check never settled)`);
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (err) {
      if (err instanceof Error && err.message.includes('a check never settled')) throw err;
      last = err;
    }
    if (performance.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
    await tick(2);
  }
}
