/**
 * Waiting on conditions, never on clocks: `waitFor` polls a check until it answers a value (or
 * true), failing with what it last saw when the bound runs out. The poll interval only decides how
 * soon a met condition is noticed, never whether the test passes.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /** Give up after this long (default 60 s). */
  readonly timeoutMs?: number;
  /** Ask again after this long (default 50 ms). */
  readonly intervalMs?: number;
  /** What is being waited for, for the error. */
  readonly what?: string;
}

/**
 * Resolves with the first value of `check` that is neither undefined, null nor false. `check` may
 * throw to abort the wait (e.g. the process it watches exited).
 */
export async function waitFor<T>(check: () => T | undefined | null | false | Promise<T | undefined | null | false>, options: WaitOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== null && value !== false) return value;
    last = value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${options.what ?? 'a condition'} (last answer: ${String(last)})`);
    await sleep(options.intervalMs ?? 50);
  }
}

/** `waitFor` with what is awaited named first (the schedules and alerts tests read that way). */
export function until<T>(what: string, check: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 60_000): Promise<T> {
  return waitFor(check, { timeoutMs, intervalMs: 100, what });
}
