/**
 * Time limits, defined once for the server, the client and the load
 * generator.
 *
 * @module
 */

/** Timers fire at once past 2^31 - 1 ms, so no duration may be longer. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Whether `ms` sets a limit at all: `0` (and `Infinity`) mean none. */
export function hasTimeout(ms: number): boolean {
  return ms > 0 && Number.isFinite(ms);
}

/**
 * How often one sweep checks deadlines as short as `ms`: a quarter of it,
 * so a deadline is late by a quarter at most, between 10 ms and 1 s. One
 * sweep for many deadlines costs far less than a timer armed and cleared
 * for each.
 */
export function sweepPeriod(ms: number): number {
  return Math.min(1000, Math.max(10, ms / 4));
}
