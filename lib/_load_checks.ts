/**
 * The checks on {@linkcode runLoad}'s numbers, before any cycle starts.
 *
 * @module
 */

/** Timers fire at once past 2^31 - 1 ms, so no duration may be longer. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Throws a `RangeError` for a number out of range, and for a run that could
 * never end: no count, no duration and no signal to stop it (what
 * `duration: 0` with no count asked for, and `client.ts -d 0` ran forever).
 */
export function checkLoadNumbers(
  numbers: { port: number; count: number; duration: number; cycleTimeout: number },
  stoppable: boolean,
): void {
  const { port, count, duration, cycleTimeout } = numbers;
  if (!(Number.isInteger(port) && port >= 1 && port <= 65535)) {
    throw new RangeError(`Invalid port "${port}": expected a whole number from 1 to 65535`);
  }
  if (!(Number.isSafeInteger(count) && count >= 0)) {
    throw new RangeError(`Invalid count "${count}": expected a whole number, 0 for none`);
  }
  for (const [name, ms] of [["duration", duration], ["cycleTimeout", cycleTimeout]] as const) {
    if (typeof ms !== "number" || !(ms >= 0 && ms <= MAX_TIMER_MS)) {
      throw new RangeError(
        `Invalid ${name} "${ms}": expected milliseconds from 0 (none) to ${MAX_TIMER_MS}`,
      );
    }
  }
  if (count === 0 && duration === 0 && !stoppable) {
    throw new RangeError(
      "A load with neither count nor duration would never end: give one, or a signal to stop it",
    );
  }
}
