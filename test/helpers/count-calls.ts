// Counting a method's calls on one object, for tests that assert some work did not happen (a poll
// that should have found nothing new read nothing), and waiting for one turn of the event loop.

/**
 * Wraps `obj[name]` so that its calls are counted and what they returned is kept (a promise's
 * value once it settles); restore() puts the method back.
 */
export function countCalls<T extends object, K extends keyof T>(
  obj: T,
  name: K,
): { readonly count: number; readonly results: readonly unknown[]; restore(): void } {
  const original = obj[name] as unknown as (...args: unknown[]) => unknown;
  let count = 0;
  const results: unknown[] = [];
  obj[name] = ((...args: unknown[]) => {
    count++;
    const out = original.apply(obj, args);
    if (out instanceof Promise)
      void out.then(
        (v) => results.push(v),
        () => undefined,
      );
    else results.push(out);
    return out;
  }) as T[K];
  return {
    get count() {
      return count;
    },
    results,
    restore() {
      obj[name] = original as T[K];
    },
  };
}

/**
 * The next turn of the event loop: by then every chain of promises started before has run, when
 * nothing in it waits on I/O (SQLite's calls finish synchronously).
 */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
