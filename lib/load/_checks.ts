/**
 * The checks on {@linkcode runLoad}'s numbers, before any cycle starts.
 *
 * @module
 */

import { checkTimeout } from "../_time.ts";

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
  checkTimeout("duration", duration);
  checkTimeout("cycleTimeout", cycleTimeout);
  if (count === 0 && duration === 0 && !stoppable) {
    throw new RangeError(
      "A load with neither count nor duration would never end: give one, or a signal to stop it",
    );
  }
}
