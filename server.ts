/**
 * The lab's TCP server: accept a connection, receive one message, log it,
 * reply `Thanks for connecting`, close; every connection on its own.
 *
 * Try it in two terminals:
 *
 * ```sh
 * deno task server          # Listening on 0.0.0.0:8080
 * deno task client          # Thanks for connecting
 * ```
 *
 * Or straight from a URL:
 *
 * ```sh
 * deno run --allow-net=0.0.0.0:8080 https://example.com/tcp/server.ts
 * ```
 *
 * `--help` lists every flag. Exit codes: 0 after a clean shutdown (SIGINT,
 * SIGTERM or SIGHUP), 1 when it cannot listen (port in use, no permission),
 * 2 for a wrong command line.
 *
 * @module
 */

import denoJson from "./deno.json" with { type: "json" };
import {
  clearStaleSocket,
  createAccessPolicy,
  formatEvent,
  formatEventJson,
  type Framing,
  FRAMINGS,
  READABLE_EVENT_TYPES,
  serve,
  type ServeOptions,
  type ServerEvent,
  type ServerStats,
  toConsoleArgs,
  toPlainText,
} from "./lib/mod.ts";
import {
  EXIT_INTERRUPTED,
  EXIT_OK,
  parseCommandLine,
  parseCount,
  parseDuration,
  parseFlags,
  parsePort,
  parseSize,
  reportFailure,
  UsageError,
  withoutTaskDashes,
} from "./lib/_cli.ts";
import { maxWorkers, serveWorkers } from "./lib/_workers.ts";
import { formatAddress } from "./lib/_io.ts";
import { netGranted, rerunCommand, serverGrants } from "./lib/_rerun.ts";
import { stopListener } from "./lib/_signals.ts";
import { parseHost } from "./lib/_host.ts";

const USAGE_HINT = "Usage: deno task server [flags]; --help lists them";
/** The flag the server:workers task ends in: a `--` after it is the user's first. */
const TASK_FLAG = { name: "--workers", words: 2 } as const;

/** How much of a message the log shows, readable or JSON (`formatEvent`'s default). */
const LOG_PREVIEW_BYTES = 4096;

/** The signals that drain and stop the server; a second one stops it at once. */
const STOP_SIGNALS: Deno.Signal[] = Deno.build.os === "windows"
  ? ["SIGINT", "SIGBREAK"]
  : ["SIGINT", "SIGTERM", "SIGHUP"];

function printUsage(): void {
  console.log(`TCP server ${denoJson.version}: the networking lab's server, production grade

Usage: deno task server [flags]
       deno run --allow-net=HOST:PORT server.ts [flags]

The task may listen on any port of 0.0.0.0, 127.0.0.1, [::] and [::1]; for
another address it prints the deno run command that works. A -- before the
flags (the npm habit) is ignored.

Listening:
  --host HOST            address to listen on (default 0.0.0.0; 127.0.0.1 for this
                         machine only, :: or ::1 for IPv6)
  -p, --port PORT        port, 0 for any free one (default 8080)
  --backlog N            kernel queue of connections not yet accepted (default 4096)
  --workers N            N accept loops, one per thread, sharing the port through
                         SO_REUSEPORT; one combined summary (needs deno run
                         --unstable-net; default 1; at most twice the CPUs, or 8);
                         the connection limits apply to each worker
  --proxy-protocol       expect a PROXY protocol v1 or v2 header from a load
                         balancer first (in clear text, before TLS with --cert);
                         log, allow and deny by the address in it
  --cert FILE --key FILE serve over TLS with this PEM certificate chain and key
                         (needs --allow-read for both files)
  --unix PATH            listen on a Unix domain socket instead (needs
                         --allow-read, --allow-write and --allow-net=unix:PATH);
                         a stale socket file left by a dead server is replaced

Messages:
  --framing MODE         where a message ends (default chunk):
                           chunk  whatever the first read returns (the lab)
                           line   up to and including the first newline
                           eof    until the client half-closes
  --reply TEXT           the reply (default "Thanks for connecting")
  --echo                 send each message back instead; streamed with --framing eof
  --keep-alive           with --framing line: answer line after line on one
                         connection until the client closes (replies end in \\n)

Limits:
  --max-message SIZE     largest message, e.g. 4096, 64KiB, 1MiB (default 1MiB)
  --idle-timeout TIME    close after this long with no byte moving, e.g. 500ms,
                         30s, 2m; 0 for never (default 30s)
  --message-timeout TIME close when a message is not whole and answered this
                         long after its first byte, however it trickles in;
                         0 for never (default 60s)
  --max-connections N    most connections at once; past it, wait (default 1024)
  --max-per-peer N       most connections at once from one IP address; past it,
                         refused at once (default 0: no cap; not with --unix
                         or --proxy-protocol)
  --drain-timeout TIME   on SIGINT, SIGTERM or SIGHUP, how long connections in
                         flight get to finish (default 5s)

Access (repeatable or comma-separated; IPv4 and IPv6 addresses and CIDR ranges):
  --allow RANGES         only these may connect, e.g. 127.0.0.1,10.0.0.0/8,::1;
                         a list that names no address is an error
  --deny RANGES          these may not, even if allowed; refused clients are
                         closed at once, unanswered, and logged

Output:
  --json                 one JSON object per event instead of readable lines
  -q, --quiet            only the listening line and the summary on stdout;
                         resets, failed connections and failed accepts still
                         go to stderr
  -h, --help             this help
  -V, --version          the version

Examples:
  deno task server
  deno task server --port 9000
  deno run --allow-net=127.0.0.1:0 server.ts --host 127.0.0.1 --port 0 --echo --framing eof
  deno task server --allow 127.0.0.0/8,::1 --deny 127.0.0.2

Exit codes: 0 clean shutdown, 1 cannot listen, 2 wrong command line.`);
}

/**
 * Parses the command line into options for `serve`, or `"help"` /
 * `"version"`; throws `UsageError` for a wrong one. Reads no file and opens
 * no socket, so the docs test checks every documented command with it.
 */
export function parseServerArgs(
  args: string[],
):
  | {
    options: ServeOptions;
    tlsFiles?: { cert: string; key: string };
    workers: number;
    json: boolean;
    quiet: boolean;
  }
  | "help"
  | "version" {
  args = withoutTaskDashes(args, TASK_FLAG);
  const { values } = parseFlags(args, {
    host: { type: "string" },
    unix: { type: "string" },
    cert: { type: "string" },
    "proxy-protocol": { type: "boolean" },
    workers: { type: "string" },
    key: { type: "string" },
    port: { type: "string", short: "p" },
    backlog: { type: "string" },
    framing: { type: "string" },
    reply: { type: "string" },
    echo: { type: "boolean" },
    "keep-alive": { type: "boolean" },
    "max-message": { type: "string" },
    "idle-timeout": { type: "string" },
    "message-timeout": { type: "string" },
    "max-per-peer": { type: "string" },
    "max-connections": { type: "string" },
    "drain-timeout": { type: "string" },
    allow: { type: "string", multiple: true },
    deny: { type: "string", multiple: true },
    json: { type: "boolean" },
    quiet: { type: "boolean", short: "q" },
    help: { type: "boolean", short: "h" },
    version: { type: "boolean", short: "V" },
  }, false);
  if (values.help) return "help";
  if (values.version) return "version";
  const text = (name: string) => values[name] as string | undefined;
  const options: ServeOptions = {};
  if (text("host") !== undefined) {
    options.hostname = parseHost(text("host")!);
  }
  if (text("port") !== undefined) options.port = parsePort(text("port")!, 0);
  if (text("unix") !== undefined) {
    if (text("unix") === "") throw new UsageError(`Invalid Unix socket path ""`);
    for (const name of ["host", "port", "backlog", "allow", "deny", "max-per-peer"]) {
      // --max-per-peer 0 is the default, no cap: nothing for a Unix socket to refuse.
      if (values[name] !== undefined && !(name === "max-per-peer" && values[name] === "0")) {
        throw new UsageError(`Flags "--unix" and "--${name}" cannot be used together`);
      }
    }
    options.path = text("unix");
  }
  if (text("backlog") !== undefined) options.backlog = parseCount(text("backlog")!, "backlog", 1);
  if (text("framing") !== undefined) {
    if (!FRAMINGS.includes(text("framing") as Framing)) {
      throw new UsageError(
        `Invalid framing "${text("framing")}": expected one of ${FRAMINGS.join(", ")}`,
      );
    }
    options.framing = text("framing") as Framing;
  }
  if (values.echo && text("reply") !== undefined) {
    throw new UsageError(`Flags "--echo" and "--reply" cannot be used together`);
  }
  if (text("reply") !== undefined) options.reply = text("reply");
  if (values.echo) options.echo = true;
  if (values["keep-alive"]) {
    if (options.framing !== "line") {
      throw new UsageError(`Flag "--keep-alive" needs "--framing line"`);
    }
    options.keepAlive = true;
  }
  if (text("max-message") !== undefined) {
    options.maxMessageBytes = parseSize(text("max-message")!, "maximum message size");
  }
  if (text("idle-timeout") !== undefined) {
    options.idleTimeout = parseDuration(text("idle-timeout")!, "idle timeout");
  }
  if (text("message-timeout") !== undefined) {
    options.messageTimeout = parseDuration(text("message-timeout")!, "message timeout");
  }
  if (text("max-per-peer") !== undefined) {
    options.maxPerPeer = parseCount(text("max-per-peer")!, "maximum connections per peer", 0);
  }
  if (text("max-connections") !== undefined) {
    options.maxConnections = parseCount(text("max-connections")!, "maximum connections", 1);
  }
  if (text("drain-timeout") !== undefined) {
    options.drainTimeout = parseDuration(text("drain-timeout")!, "drain timeout");
  }
  for (const name of ["allow", "deny"] as const) {
    const rules = values[name] as string[] | undefined;
    if (rules === undefined) continue;
    try {
      createAccessPolicy({ [name]: rules });
    } catch (error) {
      throw new UsageError(`--${name}: ${(error as Error).message}`);
    }
    options[name] = rules;
  }
  if (values["proxy-protocol"]) options.proxyProtocol = true;
  if (options.proxyProtocol && (options.maxPerPeer ?? 0) > 0) {
    // Behind a balancer every connection comes from the balancer's address.
    throw new UsageError(`Flags "--proxy-protocol" and "--max-per-peer" cannot be used together`);
  }
  if ((text("cert") === undefined) !== (text("key") === undefined)) {
    throw new UsageError(`Flags "--cert" and "--key" go together`);
  }
  if (text("cert") !== undefined && options.path !== undefined) {
    throw new UsageError(`Flags "--unix" and "--cert" cannot be used together`);
  }
  if (values.json && values.quiet) {
    throw new UsageError(`Flags "--json" and "--quiet" cannot be used together`);
  }
  const tlsFiles = text("cert") === undefined
    ? undefined
    : { cert: text("cert")!, key: text("key")! };
  const workers = text("workers") === undefined ? 1 : parseCount(text("workers")!, "workers", 1);
  if (workers > maxWorkers()) {
    throw new UsageError(
      `Invalid workers "${workers}": at most ${maxWorkers()} on this machine (twice its ${
        navigator.hardwareConcurrency || 1
      } CPUs, or 8 if that is more)`,
    );
  }
  if (workers > 1 && (options.path !== undefined || tlsFiles)) {
    throw new UsageError(
      `Flag "--workers" cannot be used with "--${options.path !== undefined ? "unix" : "cert"}"`,
    );
  }
  return {
    options,
    tlsFiles,
    workers,
    json: values.json === true,
    quiet: values.quiet === true,
  };
}

/** A server command line, parsed. */
export type ServerArgs = Exclude<ReturnType<typeof parseServerArgs>, "help" | "version">;

/**
 * Chooses how events reach the terminal. Colour only on a terminal (Deno
 * drops `%c` styles under NO_COLOR). Otherwise lines are gathered and written
 * once per turn of the event loop: under load many exchanges finish in one
 * turn, and one write for all of them costs far less than one each. The
 * first and last lines (listening, summary) are written at once.
 */
function createLogger(
  json: boolean,
  quiet: boolean,
): ((event: ServerEvent) => void) & { flush(): void } {
  const encoder = new TextEncoder();
  let pending = "";
  let scheduled = false;
  let broken = false;
  const flush = () => {
    scheduled = false;
    if (pending === "" || broken) return;
    const bytes = encoder.encode(pending);
    pending = "";
    try {
      let offset = 0;
      while (offset < bytes.length) offset += Deno.stdout.writeSync(bytes.subarray(offset));
    } catch {
      // stdout was closed (`| head`): keep serving, stop logging.
      broken = true;
    }
  };
  const write = (line: string, now: boolean) => {
    pending += line + "\n";
    if (now) flush();
    else if (!scheduled) {
      scheduled = true;
      setTimeout(flush, 0);
    }
  };
  const color = !json && Deno.stdout.isTerminal() && !Deno.noColor;
  const log = (event: ServerEvent) => {
    const edge = event.type === "listening" || event.type === "summary";
    // Quiet keeps where it listens and how it went; the per-connection lines go.
    if (quiet && !edge) return;
    if (json) return write(formatEventJson(event), edge);
    const segments = formatEvent(event);
    if (!segments) return;
    if (color) console.log(...toConsoleArgs(segments));
    else write(toPlainText(segments), edge);
  };
  return Object.assign(log, { flush });
}

/**
 * What `--quiet` still reports, on stderr: what the summary counts as
 * errors (connections reset or failed, accepts that failed) and accepting
 * working again.
 */
const QUIET_EVENT_TYPES: ServerEvent["type"][] = ["close", "accept-error", "accept-resumed"];

/** Writes the errors among `QUIET_EVENT_TYPES` to stderr, one readable line each. */
function logErrorsToStderr(event: ServerEvent): void {
  if (!QUIET_EVENT_TYPES.includes(event.type)) return;
  if (event.type === "close" && event.reason !== "reset" && event.reason !== "error") return;
  const segments = formatEvent(event);
  if (!segments) return;
  const bytes = new TextEncoder().encode(toPlainText(segments) + "\n");
  try {
    let offset = 0;
    while (offset < bytes.length) offset += Deno.stderr.writeSync(bytes.subarray(offset));
  } catch {
    // stderr was closed: keep serving.
  }
}

/** An error message as the detail after a colon. */
function lowerFirst(message: string): string {
  return message.charAt(0).toLowerCase() + message.slice(1);
}

/** Reads a PEM file, with a one-line error that names it. */
async function readPem(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    const detail = error instanceof Deno.errors.NotFound ? "no such file" : String(error);
    throw new Error(`Cannot read the ${what} "${path}": ${detail}`);
  }
}

/** Runs the server until SIGINT, SIGTERM or SIGHUP; resolves to the exit code. */
export async function main(args: string[]): Promise<number> {
  const parsed = await parseCommandLine(() => parseServerArgs(args), {
    printUsage,
    version: denoJson.version,
    usageHint: USAGE_HINT,
  });
  if (typeof parsed === "number") return parsed;
  const { options, tlsFiles, workers, json, quiet } = parsed;
  const typed = withoutTaskDashes(args, TASK_FLAG);
  const { hostname = "0.0.0.0", port = 8080, path } = options;
  const rerun = () =>
    rerunCommand(
      import.meta.url,
      serverGrants({ hostname, port, path, tlsFiles, workers }),
      typed,
    );
  // Asked before listening so that the answer is the whole command to run.
  const granted = path !== undefined || await netGranted(hostname, port).catch((error) => error);
  if (granted instanceof Error) return reportFailure(granted, USAGE_HINT);
  if (!granted) {
    const target = formatAddress({ hostname, port });
    return reportFailure(
      new Deno.errors.NotCapable(`Requires net access to "${target}"`),
      "",
      rerun,
    );
  }
  if (tlsFiles) {
    try {
      options.tls = {
        cert: await readPem(tlsFiles.cert, "certificate"),
        key: await readPem(tlsFiles.key, "key"),
      };
    } catch (error) {
      return reportFailure(error, USAGE_HINT, rerun);
    }
  }
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
  let running: { shutdown(): void; finished: Promise<ServerStats | undefined> } | undefined;
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
      return reportFailure(error, USAGE_HINT, rerun);
    }
    if (error instanceof Deno.errors.InvalidData && tlsFiles) {
      // The files were read: what they hold is not a certificate chain and key.
      const files = `"${tlsFiles.cert}", "${tlsFiles.key}"`;
      return reportFailure(
        new Error(`Invalid TLS certificate or key in ${files}: ${lowerFirst(error.message)}`),
        USAGE_HINT,
      );
    }
    const address = options.path !== undefined ? `unix:${options.path}` : formatAddress({
      hostname: options.hostname ?? "0.0.0.0",
      port: options.port ?? 8080,
    });
    const detail = error instanceof Deno.errors.AddrInUse
      ? options.path !== undefined ? "a running server is using it" : "the port is already in use"
      : error instanceof Deno.errors.AlreadyExists
      ? "it exists and is not a socket"
      : lowerFirst(error.message);
    return reportFailure(new Error(`Cannot listen on "${address}": ${detail}`), USAGE_HINT);
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
  log: (event: ServerEvent) => void,
  quiet: boolean,
): { shutdown(): void; finished: Promise<ServerStats | undefined> } {
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
  log: (event: ServerEvent) => void,
  quiet: boolean,
): Promise<{ shutdown(): void; finished: Promise<ServerStats | undefined> }> {
  const startedAt = performance.now();
  const pool = await serveWorkers(options, count, quiet ? logErrorsToStderr : log);
  const address = formatAddress({ hostname: options.hostname ?? "0.0.0.0", port: pool.port });
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

if (import.meta.main) Deno.exit(await main(Deno.args));
