/**
 * `server.ts` once its command line is read: the log, the signals that drain
 * and stop the server, one accept loop or several workers, the summary, and
 * a one-line message for a server that cannot listen.
 *
 * @module
 */

import {
  clearStaleSocket,
  serve,
  SERVE_DEFAULTS,
  type ServeOptions,
  type ServerStats,
} from "../mod.ts";
import { READABLE_EVENT_TYPES } from "../log/format.ts";
import { serveWorkers } from "../server/_workers.ts";
import { formatAddress } from "../_io.ts";
import { errorDetail, MissingPermission, opError, withContext } from "../_errors.ts";
import { workerNeeds } from "./permissions.ts";
import { EXIT_INTERRUPTED, EXIT_OK, reportFailure } from "./exit.ts";
import { stopListener } from "./_signals.ts";
import {
  createLogger,
  logErrorsToStderr,
  QUIET_EVENT_TYPES,
  type ServerLogger,
} from "./server_log.ts";
import type { ServerArgs } from "./server_args.ts";

/** How much of a message the log shows, readable or JSON (`formatEvent`'s default). */
const LOG_PREVIEW_BYTES = 4096;

/** The signals that drain and stop the server; a second one stops it at once. */
const STOP_SIGNALS: Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT", "SIGBREAK"]
  : ["SIGINT", "SIGTERM", "SIGHUP"];

/** A running server as `main` sees it, one accept loop or several. */
interface Running {
  shutdown(): void;
  finished: Promise<ServerStats | undefined>;
}

/** What `server.ts` hands over. */
export interface ServerCli {
  /** The command that would work, for a missing permission. */
  rerun: () => string | Promise<string>;
  /** The line printed after a usage error. */
  usageHint: string;
}

/**
 * Runs the server until SIGINT, SIGTERM or SIGHUP; resolves to the exit code.
 * `parsed.options.tls` holds the certificate and key, read by the caller.
 */
export async function runServer(parsed: ServerArgs, cli: ServerCli): Promise<number> {
  const { options, tlsFiles, workers, json, quiet } = parsed;
  const { rerun, usageHint } = cli;
  const log = createLogger(json, quiet);
  // The readable log prints two lines an exchange: the server need not build
  // the events it would skip. Quiet asks only for what counts as an error,
  // which goes to stderr. JSON logs every event.
  if (!json) {
    options.events = quiet ? QUIET_EVENT_TYPES : READABLE_EVENT_TYPES;
    options.closeEvents = "unusual";
  }
  // Either log shows 4 KiB of a message at most: the events need no more,
  // and a large message's buffer is then freed as soon as it is answered.
  options.previewBytes = LOG_PREVIEW_BYTES;
  // The handlers go in before the server prints `Listening on`: a signal
  // that follows that line at once must drain, not kill, the process. One
  // that comes while it starts stops it as soon as it listens. SIGHUP (the
  // terminal closed) drains like SIGTERM.
  let running: Running | undefined;
  let stopping = false;
  // A second signal stops at once; the duplicate `deno task` forwards is no second one.
  const onSignal = stopListener(() => {
    stopping = true;
    running?.shutdown();
  }, () => {
    log.flush();
    Deno.exit(EXIT_INTERRUPTED);
  });
  for (const signal of STOP_SIGNALS) Deno.addSignalListener(signal, onSignal);
  const removeSignalListeners = () => {
    for (const signal of STOP_SIGNALS) Deno.removeSignalListener(signal, onSignal);
  };
  try {
    // A socket file left by a server that died is replaced; a live one is not.
    if (options.path !== undefined) await clearStaleSocket(options.path);
    running = workers > 1
      ? await startWorkers(options, workers, log, quiet)
      : startServer(options, log, quiet);
  } catch (error) {
    removeSignalListeners();
    // A missing permission or Deno flag is what it is, not a failure to listen.
    if (
      error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.NotSupported ||
      !(error instanceof Error)
    ) {
      return await reportFailure(error, usageHint, rerun);
    }
    if (error instanceof Deno.errors.InvalidData && tlsFiles) {
      // The files were read: what they hold is not a certificate chain and key.
      const files = `"${tlsFiles.cert}", "${tlsFiles.key}"`;
      return await reportFailure(
        withContext(error, `Invalid TLS certificate or key in ${files}`),
        usageHint,
      );
    }
    const address = options.path !== undefined ? `unix:${options.path}` : formatAddress({
      hostname: options.hostname ?? SERVE_DEFAULTS.hostname,
      port: options.port ?? SERVE_DEFAULTS.port,
    });
    const detail = error instanceof Deno.errors.AddrInUse
      ? options.path !== undefined ? "a running server is using it" : "the port is already in use"
      : error instanceof Deno.errors.AlreadyExists
      ? "it exists and is not a socket"
      : errorDetail(error);
    return await reportFailure(opError("Cannot listen on", address, error, detail), usageHint);
  }
  if (stopping) running.shutdown();
  const summary = await running.finished;
  if (summary) log({ type: "summary", time: Date.now(), ...summary });
  removeSignalListeners();
  return EXIT_OK;
}
/**
 * One accept loop in this thread. Quiet observes errors only, so the server
 * builds no events for a normal exchange; the two lines quiet keeps on
 * stdout are written here.
 */
function startServer(
  options: ServeOptions,
  log: ServerLogger,
  quiet: boolean,
): Running {
  const server = serve({ ...options, onEvent: quiet ? logErrorsToStderr : log });
  if (quiet) log({ type: "listening", time: Date.now(), address: formatAddress(server.addr) });
  return {
    shutdown: () => void server.shutdown(),
    finished: server.finished.then(() => quiet ? server.stats : undefined),
  };
}

/** N accept loops on one port, one per worker; this thread logs for all of them. */
async function startWorkers(
  options: ServeOptions,
  count: number,
  log: ServerLogger,
  quiet: boolean,
): Promise<Running> {
  const startedAt = performance.now();
  let pool;
  try {
    pool = await serveWorkers(options, count, quiet ? logErrorsToStderr : log);
  } catch (error) {
    // What a worker pool lacks is the right to read lib/, which each worker
    // loads afresh; the pool says so once it knows Deno has --unstable-net.
    const [need] = workerNeeds();
    if (error instanceof Deno.errors.NotCapable && !(error instanceof MissingPermission) && need) {
      throw new MissingPermission(...need, { cause: error });
    }
    throw error;
  }
  const address = formatAddress({
    hostname: options.hostname ?? SERVE_DEFAULTS.hostname,
    port: pool.port,
  });
  log({ type: "listening", time: Date.now(), address });
  let finish!: (stats: ServerStats) => void;
  const finished = new Promise<ServerStats>((resolve) => finish = resolve);
  return {
    shutdown() {
      // The pool logs the shutdown, with the connections open in all workers.
      pool.shutdown().then((stats) =>
        finish({ ...stats, uptimeMs: performance.now() - startedAt })
      );
    },
    finished,
  };
}
