/**
 * Timeouts in milliseconds, as every option and flag takes them: the longest
 * a timer can wait, the check on a timeout option, how an error message
 * states one, and how often a sweep looks for what has run out of time.
 *
 * @module
 */

/** Timers fire at once past 2^31 - 1 ms, so no timeout may be longer. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Whether `ms` is a timeout that can run out: neither `0` (none) nor `Infinity`. */
export function hasTimeout(ms: number): boolean {
  return ms > 0 && Number.isFinite(ms);
}

/** Throws a `RangeError` unless `value` is a timeout in milliseconds: 0 (none) up to 2^31 - 1. */
export function checkTimeout(name: string, value: unknown): void {
  if (typeof value !== "number" || !(value >= 0 && value <= MAX_TIMER_MS)) {
    throw new RangeError(
      `Invalid ${name} "${String(value)}": expected milliseconds from 0 (none) to ${MAX_TIMER_MS}`,
    );
  }
}

/** A timeout as error messages give it: `1 s` or `250 ms`. */
export function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/**
 * How often to look for what has outlived `timeoutMs`: a quarter of it, so
 * nothing lasts more than a quarter past its limit, kept between 10 ms (a
 * sweep costs a pass over every connection) and 1 s.
 */
export function sweepPeriod(timeoutMs: number): number {
  return Math.min(1000, Math.max(10, timeoutMs / 4));
}
