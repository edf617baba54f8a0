// The one polling helper of the end-to-end tests: wait for a condition that the system reaches on
// its own time (a watch event, an audit record, a reconcile). Bounds a wait; asserts nothing about
// speed.

/**
 * Polls `fn` until it returns a value that is neither undefined nor false, and returns that value.
 * A throw counts as "not yet" (the thing polled may not exist yet); after `timeoutMs` it fails,
 * naming `what` and the last observation (value or error), so a timeout says what was seen.
 * Polls every 25 ms at first, backing off to 200 ms: short waits stay short, long ones stay cheap.
 */
export async function eventually<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  let pause = 25;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`,
      );
    await new Promise((r) => setTimeout(r, pause));
    pause = Math.min(pause * 2, 200);
  }
}
