/**
 * Load generation: many clients at once, each looping the lab's exchange.
 *
 * A cycle is: connect, send the message, read the reply to EOF, close (or,
 * with `keepAlive`, send a line and read one line back on a connection that
 * stays open). Each of `concurrency` workers runs cycles back to back until
 * the count or the duration is reached.
 *
 * The generator must not be what limits the rate. Two engines run the
 * cycles (see {@linkcode LoadEngine}): a portable one on Deno's own calls,
 * and on Linux with `--allow-ffi` an epoll one that costs about half as much
 * CPU per cycle. Neither allocates per cycle in its hot loop; latencies go
 * into one preallocated array that grows by doubling.
 *
 * @module
 */

import { CLIENT_DEFAULTS } from "../client/options.ts";
import { epollUnavailable, runEpollLoad } from "./_epoll.ts";
import type { LoadTally } from "./_engine.ts";
import { runPortableLoad } from "./_portable.ts";
import { formatAddress } from "../_io.ts";
import { checkLoadNumbers } from "./_checks.ts";
import { MissingPermission } from "../_errors.ts";

/**
 * How the load is generated.
 *
 * - `"portable"`: `Deno.connect`, `write`, `read` and `close`, anywhere Deno
 *   runs, with `--allow-net` only.
 * - `"epoll"`: the same cycle through Linux's epoll and libc over FFI, about
 *   twice as cheap per cycle; Linux only, needs `--allow-ffi` and an IP
 *   address without a zone (a name resolves differently from machine to
 *   machine, so names use `"portable"`).
 * - `"auto"`: `"epoll"` where it can run, `"portable"` elsewhere.
 */
export type LoadEngine = "auto" | "epoll" | "portable";

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
   * stop at `count`. With neither given, the run lasts 10 seconds; `0` with
   * no count and no `signal` would never end, and throws a `RangeError`.
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
  /**
   * How the load is generated; see {@linkcode LoadEngine}. Asking for
   * `"epoll"` where it cannot run throws, with the reason.
   *
   * @default {"auto"}
   */
  engine?: LoadEngine;
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
  /**
   * Failed cycles by kind: `refused`, `reset`, `timeout`, `no-reply` (the
   * server closed without a byte, as one that refuses a client does),
   * `other`.
   */
  errors: Record<string, number>;
  /** Bytes sent. */
  bytesSent: number;
  /** Bytes received. */
  bytesReceived: number;
  /** How long the run took, in milliseconds. */
  elapsedMs: number;
  /** The concurrency used. */
  concurrency: number;
  /** The engine that ran: `"epoll"` or `"portable"`. */
  engine: "epoll" | "portable";
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
 * import { runLoad, serve } from "../mod.ts";
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
    hostname = CLIENT_DEFAULTS.hostname,
    port = CLIENT_DEFAULTS.port,
    message = CLIENT_DEFAULTS.message,
    concurrency = 32,
    count = 0,
    duration = count > 0 ? 0 : 10_000,
    keepAlive = false,
    halfClose = !keepAlive,
    cycleTimeout = 10_000,
    engine = "auto",
    onProgress,
    signal,
  } = options;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError(
      `Invalid concurrency "${concurrency}": expected a whole number of at least 1`,
    );
  }
  checkLoadNumbers({ port, count, duration, cycleTimeout }, signal !== undefined);
  const payload = typeof message === "string" ? new TextEncoder().encode(message) : message;
  if (keepAlive && payload[payload.length - 1] !== 0x0a) {
    throw new TypeError("With keepAlive the message must end with a newline");
  }
  if (engine !== "auto" && engine !== "epoll" && engine !== "portable") {
    throw new TypeError(`Invalid engine "${engine}": expected auto, epoll or portable`);
  }
  const epollProblem = engine === "portable" ? undefined : epollUnavailable(hostname, port);
  if (engine === "epoll" && epollProblem !== undefined) {
    throw new TypeError(`The epoll engine cannot run: ${epollProblem}`);
  }
  const useEpoll = engine !== "portable" && epollProblem === undefined;
  // Checked here, not left to the cycles: each would fail alike, and the
  // epoll engine would not ask Deno at all. Queried, not requested: a prompt
  // in the middle of a run (or of a test on a terminal) would hang it.
  const target = formatAddress({ hostname, port });
  if (Deno.permissions.querySync({ name: "net", host: target }).state !== "granted") {
    throw new MissingPermission("net", target);
  }
  const samples = new Samples();
  const errors: Record<string, number> = {};
  let failed = 0;
  const tally: LoadTally = {
    cycles: 0,
    started: 0,
    bytesSent: 0,
    bytesReceived: 0,
    addSample: (ms) => samples.add(ms),
    fail: (kind) => {
      failed++;
      errors[kind] = (errors[kind] ?? 0) + 1;
    },
  };
  const startedAt = performance.now();
  const deadline = duration > 0 ? startedAt + duration : Infinity;
  const mayStart = () =>
    !signal?.aborted && (count === 0 || tally.started < count) && performance.now() < deadline;
  const progress = onProgress
    ? setInterval(
      () =>
        onProgress({
          cycles: tally.cycles,
          errors: failed,
          elapsedMs: performance.now() - startedAt,
        }),
      250,
    )
    : undefined;
  const run = {
    hostname,
    port,
    payload,
    concurrency,
    keepAlive,
    halfClose,
    cycleTimeout,
    mayStart,
    tally,
  };
  try {
    await (useEpoll ? runEpollLoad(run) : runPortableLoad(run));
  } finally {
    clearInterval(progress);
  }
  const elapsedMs = performance.now() - startedAt;
  return {
    cycles: tally.cycles,
    cyclesPerSecond: elapsedMs > 0 ? tally.cycles / (elapsedMs / 1000) : 0,
    latencyMs: samples.summary(),
    errors,
    bytesSent: tally.bytesSent,
    bytesReceived: tally.bytesReceived,
    elapsedMs,
    concurrency,
    engine: useEpoll ? "epoll" : "portable",
  };
}
