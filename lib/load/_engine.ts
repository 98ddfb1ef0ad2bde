/**
 * What the load generator's engines share: the run they are given and the
 * counters they fill. `runLoad` checks and defaults the options, owns the
 * counters and builds the report; an engine only runs cycles.
 *
 * @module
 */

/** The counters both engines fill. */
export interface LoadTally {
  /** Adds one completed cycle's latency, in milliseconds. */
  addSample(ms: number): void;
  /** Counts one failed cycle by kind: `refused`, `reset`, `timeout`, `no-reply`, `other`. */
  fail(kind: string): void;
  /** Cycles completed. */
  cycles: number;
  /** Cycles begun. */
  started: number;
  /** Bytes sent. */
  bytesSent: number;
  /** Bytes received. */
  bytesReceived: number;
}

/** One run, as `runLoad` hands it to an engine. */
export interface EngineRun {
  /** The server's name or address. */
  hostname: string;
  /** The server's port. */
  port: number;
  /** What each cycle sends; with `keepAlive` it ends with a newline. */
  payload: Uint8Array;
  /** How many connections run cycles at the same time. */
  concurrency: number;
  /** Send a line and read one back on a connection that stays open. */
  keepAlive: boolean;
  /** Half-close after sending. */
  halfClose: boolean;
  /** A cycle's limit in milliseconds; `0` or `Infinity` means none. */
  cycleTimeout: number;
  /** Whether another cycle may begin now (count, duration, abort). */
  mayStart: () => boolean;
  /** Where the results go. */
  tally: LoadTally;
}
