/**
 * Load generation: many clients at once, each looping the lab's exchange.
 *
 * A cycle is: connect, send the message, read the reply to EOF, close (or,
 * with `keepAlive`, send a line and read one line back on a connection that
 * stays open). Each of `concurrency` workers runs cycles back to back until
 * the count or the duration is reached.
 *
 * The generator must not be what limits the rate, so the hot loop allocates
 * nothing per cycle: each worker reuses one read buffer, the message is
 * encoded once, and latencies go into one preallocated array that grows by
 * doubling.
 *
 * @module
 */

import { DEFAULT_MESSAGE } from "./client.ts";
import { isPeerGone } from "./connection.ts";
import { closeQuietly, writeAll } from "./_io.ts";

/** Options for {@linkcode runLoad}. */
export interface LoadOptions {
  /**
   * The server's name or address.
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * The server's port.
   *
   * @default {8080}
   */
  port?: number;
  /**
   * What each cycle sends. With `keepAlive` it must end with a newline.
   *
   * @default {"Hai from client"}
   */
  message?: string | Uint8Array;
  /**
   * How many connections run cycles at the same time.
   *
   * @default {32}
   */
  concurrency?: number;
  /**
   * Stop after this many cycles in all. `0` means no count: stop at `duration`.
   *
   * @default {0}
   */
  count?: number;
  /**
   * Stop starting cycles after this many milliseconds. `0` means no limit:
   * stop at `count`. With neither, the run lasts 10 seconds.
   *
   * @default {0}
   */
  duration?: number;
  /**
   * Keep each connection open: send a line, read one line back, repeat. For
   * a server that answers line by line (`framing: "line"`, `keepAlive`).
   *
   * @default {false}
   */
  keepAlive?: boolean;
  /**
   * Half-close after sending, as the single-shot client does, so that a
   * server framing messages by EOF answers. Costs one more operation per
   * cycle. Never with `keepAlive`.
   *
   * @default {true}
   */
  halfClose?: boolean;
  /**
   * Give up on a cycle that has not finished, connect included, after this
   * many milliseconds; it counts as a `timeout` error. `0` means never.
   *
   * @default {10000}
   */
  cycleTimeout?: number;
  /** Called about four times a second with the figures so far. */
  onProgress?: (progress: LoadProgress) => void;
  /** Aborting this signal ends the run early; the report covers what ran. */
  signal?: AbortSignal;
}

/** Figures while a run is going. */
export interface LoadProgress {
  /** Cycles completed so far. */
  cycles: number;
  /** Cycles that failed so far. */
  errors: number;
  /** Milliseconds since the start. */
  elapsedMs: number;
}

/** Latency percentiles, in milliseconds. */
export interface LatencySummary {
  /** Median. */
  p50: number;
  /** 90th percentile. */
  p90: number;
  /** 99th percentile. */
  p99: number;
  /** Slowest cycle. */
  max: number;
}

/** What {@linkcode runLoad} resolves to. */
export interface LoadReport {
  /** Cycles completed. */
  cycles: number;
  /** Completed cycles per second over the whole run. */
  cyclesPerSecond: number;
  /** Latency of completed cycles. */
  latencyMs: LatencySummary;
  /** Failed cycles by kind: `refused`, `reset`, `timeout`, `other`. */
  errors: Record<string, number>;
  /** Bytes sent. */
  bytesSent: number;
  /** Bytes received. */
  bytesReceived: number;
  /** How long the run took, in milliseconds. */
  elapsedMs: number;
  /** The concurrency used. */
  concurrency: number;
}

function errorKind(error: unknown): string {
  if (error instanceof Deno.errors.ConnectionRefused) return "refused";
  if (isPeerGone(error)) return "reset";
  // The watchdog aborts a connect or closes the socket under a pending read.
  if (
    error instanceof Deno.errors.TimedOut || error instanceof Deno.errors.Interrupted ||
    error instanceof Deno.errors.BadResource
  ) return "timeout";
  return "other";
}

/** A growable array of latencies, in milliseconds. */
class Samples {
  #values = new Float64Array(1024);
  length = 0;

  add(value: number): void {
    if (this.length === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.length++] = value;
  }

  summary(): LatencySummary {
    const sorted = this.#values.slice(0, this.length).sort();
    const at = (fraction: number) =>
      sorted.length === 0
        ? 0
        : sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))];
    return {
      p50: at(0.5),
      p90: at(0.9),
      p99: at(0.99),
      max: sorted.length ? sorted[sorted.length - 1] : 0,
    };
  }
}

/**
 * Runs the load and reports rate, latency percentiles and errors.
 *
 * @example Ten thousand exchanges over 32 connections
 * ```ts
 * import { runLoad, serve } from "./mod.ts";
 *
 * await using server = serve({ hostname: "127.0.0.1", port: 0 });
 * const report = await runLoad({ port: server.addr.port, concurrency: 32, count: 10_000 });
 * console.log(report.cyclesPerSecond, report.latencyMs.p99);
 * ```
 *
 * @param options Where, how many at once, for how long.
 * @returns The report.
 */
export async function runLoad(options: LoadOptions = {}): Promise<LoadReport> {
  const {
    hostname = "127.0.0.1",
    port = 8080,
    message = DEFAULT_MESSAGE,
    concurrency = 32,
    count = 0,
    duration = count > 0 ? 0 : 10_000,
    keepAlive = false,
    halfClose = !keepAlive,
    cycleTimeout = 10_000,
    onProgress,
    signal,
  } = options;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(
      `Invalid concurrency "${concurrency}": expected a whole number of at least 1`,
    );
  }
  const payload = typeof message === "string" ? new TextEncoder().encode(message) : message;
  if (keepAlive && payload[payload.length - 1] !== 0x0a) {
    throw new TypeError("With keepAlive the message must end with a newline");
  }
  const samples = new Samples();
  const errors: Record<string, number> = {};
  let cycles = 0;
  let failed = 0;
  let started = 0;
  let bytesSent = 0;
  let bytesReceived = 0;
  const startedAt = performance.now();
  const deadline = duration > 0 ? startedAt + duration : Infinity;
  const mayStart = () =>
    !signal?.aborted && (count === 0 || started < count) && performance.now() < deadline;

  const fail = (error: unknown) => {
    failed++;
    const kind = errorKind(error);
    errors[kind] = (errors[kind] ?? 0) + 1;
  };

  // One timer for every worker: a cycle stuck past cycleTimeout has its
  // connect aborted or its connection closed, which fails the pending
  // operation. Each worker owns a slot, so the hot loop only stores into it.
  const slots = Array.from({ length: concurrency }, () => ({
    busy: false,
    since: 0,
    conn: undefined as Deno.Conn | undefined,
    // Reused from cycle to cycle until it has aborted once.
    connecting: new AbortController(),
  }));
  const watchdog = cycleTimeout > 0 && Number.isFinite(cycleTimeout)
    ? setInterval(() => {
      const now = performance.now();
      for (const slot of slots) {
        if (!slot.busy || now - slot.since <= cycleTimeout) continue;
        slot.busy = false;
        slot.connecting.abort(new Deno.errors.TimedOut("The cycle timed out"));
        if (slot.conn) closeQuietly(slot.conn);
      }
    }, Math.min(1000, Math.max(10, cycleTimeout / 4)))
    : undefined;
  type Slot = (typeof slots)[number];

  /** Connects for a slot, under its watchdog. */
  function dial(slot: Slot, begin: number): Promise<Deno.TcpConn> {
    if (slot.connecting.signal.aborted) slot.connecting = new AbortController();
    slot.since = begin;
    slot.busy = true;
    return Deno.connect({ hostname, port, signal: slot.connecting.signal });
  }

  async function closingWorker(_: unknown, worker: number): Promise<void> {
    const slot = slots[worker];
    const buffer = new Uint8Array(64 * 1024);
    while (mayStart()) {
      started++;
      const begin = performance.now();
      let conn: Deno.TcpConn | undefined;
      try {
        conn = await dial(slot, begin);
        slot.conn = conn;
        await writeAll(conn, payload);
        if (halfClose) await conn.closeWrite();
        bytesSent += payload.length;
        let count: number | null;
        while ((count = await conn.read(buffer)) !== null) bytesReceived += count;
        samples.add(performance.now() - begin);
        cycles++;
      } catch (error) {
        fail(error);
      } finally {
        slot.busy = false;
        slot.conn = undefined;
        if (conn) closeQuietly(conn);
      }
    }
  }

  async function keepAliveWorker(_: unknown, worker: number): Promise<void> {
    const slot = slots[worker];
    const buffer = new Uint8Array(64 * 1024);
    let conn: Deno.TcpConn | undefined;
    while (mayStart()) {
      started++;
      const begin = performance.now();
      try {
        if (conn) {
          slot.since = begin;
          slot.busy = true;
        } else {
          conn = await dial(slot, begin);
          slot.conn = conn;
        }
        await writeAll(conn, payload);
        bytesSent += payload.length;
        // One reply line: read until a newline arrives.
        while (true) {
          const count = await conn.read(buffer);
          if (count === null) {
            throw new Deno.errors.ConnectionReset("The server closed the connection");
          }
          bytesReceived += count;
          if (buffer.subarray(0, count).includes(0x0a)) break;
        }
        samples.add(performance.now() - begin);
        cycles++;
      } catch (error) {
        fail(error);
        if (conn) closeQuietly(conn);
        conn = undefined;
        slot.conn = undefined;
      } finally {
        slot.busy = false;
      }
    }
    if (conn) closeQuietly(conn);
  }

  const progress = onProgress
    ? setInterval(
      () => onProgress({ cycles, errors: failed, elapsedMs: performance.now() - startedAt }),
      250,
    )
    : undefined;
  try {
    await Promise.all(
      Array.from({ length: concurrency }, keepAlive ? keepAliveWorker : closingWorker),
    );
  } finally {
    if (watchdog !== undefined) clearInterval(watchdog);
    clearInterval(progress);
  }
  const elapsedMs = performance.now() - startedAt;
  return {
    cycles,
    cyclesPerSecond: elapsedMs > 0 ? cycles / (elapsedMs / 1000) : 0,
    latencyMs: samples.summary(),
    errors,
    bytesSent,
    bytesReceived,
    elapsedMs,
    concurrency,
  };
}
