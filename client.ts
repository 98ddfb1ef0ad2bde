/**
 * The lab's TCP client: connect to 127.0.0.1:8080, send `Hai from client`,
 * print the reply, close.
 *
 * Try it in two terminals:
 *
 * ```sh
 * deno task server          # Listening on 0.0.0.0:8080
 * deno task client          # Thanks for connecting
 * echo hi | deno task client
 * deno task client -i       # a session: type lines, Ctrl-D to end
 * ```
 *
 * The reply goes to stdout byte for byte; everything else goes to stderr.
 * Exit codes: 0 success, 1 network failure (refused, timed out, reset, no
 * reply, the message cut short), 2 a wrong command line, 130 Ctrl-C in a
 * session.
 *
 * @module
 */

import denoJson from "./deno.json" with { type: "json" };
// Only what one exchange needs loads at start: a client is often run once,
// so its start-up time is most of its run time. Load mode loads the rest.
import { DEFAULT_MESSAGE, sendMessage, type SendMessageOptions } from "./lib/client.ts";
import type { LoadOptions } from "./lib/load.ts";
import { formatAddress, writeAll } from "./lib/_io.ts";
import { withContext } from "./lib/_connect.ts";
import { clientGrants, netGranted, rerunCommand } from "./lib/_rerun.ts";
import { stopListener } from "./lib/_signals.ts";
import { parseHost } from "./lib/_host.ts";
import {
  EXIT_FAILURE,
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

const USAGE_HINT = "Usage: deno task client [flags] [MESSAGE]; --help lists them";
/** The flag the load task ends in: a `--` after it is the user's first. */
const TASK_FLAG = { name: "--load", words: 1 } as const;

function printUsage(): void {
  console.log(`TCP client ${denoJson.version}: the networking lab's client, production grade

Usage: deno task client [flags] [MESSAGE]
       deno run --allow-net=HOST:PORT client.ts [flags] [MESSAGE]

The message is MESSAGE, or --message, or standard input when it is piped, or
"Hai from client". After sending, the client half-closes and reads the reply
until the server closes; the reply goes to stdout unchanged.

The client and load tasks may reach any port of 127.0.0.1, [::1] and
localhost; for another host the client prints the deno run command that works.
A -- before the flags (the npm habit) is ignored; any later -- ends the flags.

  --host HOST              server name or address (default 127.0.0.1)
  -p, --port PORT          server port (default 8080)
  --tls                    connect over TLS; the certificate must name --host
  --ca FILE                trust the certificate authorities in this PEM file too
                           (implies --tls; needs --allow-read for it)
  --unix PATH              connect to a Unix domain socket instead (needs
                           --allow-read, --allow-write, --allow-net=unix:PATH)
  -m, --message TEXT       the message to send
  --connect-timeout TIME   give up connecting after this long, e.g. 500ms, 10s;
                           0 for never (default 10s)
  --timeout TIME           give up when nothing has moved for this long (default 30s,
                           not counting waits on a piped stdin; with -i, none; in
                           load mode: a whole cycle's limit, default 10s)
  --max-reply SIZE         longest reply accepted, e.g. 64KiB, 16MiB (default 16MiB)
  --no-half-close          keep sending open after the message, for peers that hang
                           up on a half-close (nc -l; to type into one, use -i); the
                           reply then ends when the server closes
  --json                   print a JSON result (reply, bytes, timings) instead
  --crlf                   send line ends as \\r\\n (SMTP, HTTP, Redis by hand)

Interactive, like nc HOST PORT:
  -i, --interactive        send each line as Enter is pressed (or a piped stdin as
                           it comes) and print what arrives, both ways at once,
                           until the server closes. Ctrl-D ends your side (a
                           half-close), Ctrl-C closes at once (exit code 130).
                           No timeout unless --timeout, no limit on what arrives
                           unless --max-reply; not with MESSAGE, --json or load mode
  deno task client -i --port 9000
  deno task client -i --crlf --port 9000

Load mode (any of these turns it on): loop connect, send, read to EOF, close
  -c, --connections N      concurrent connections (default 32)
  -d, --duration TIME      how long to run (default 10s unless --count is given)
  -n, --count N            how many cycles in all
  --keep-alive             keep each connection open: send a line, read a line,
                           repeat (for a server run with --framing line --keep-alive)
  --load                   load mode with every default (32 connections, 10s)
  --engine NAME            auto (default), epoll or portable. epoll drives the
                           cycles through Linux's epoll over FFI at about half
                           the CPU per cycle; it needs --allow-ffi and an IP
                           address for --host. auto uses it where it can run.
  The message is MESSAGE, --message or "Hai from client": a piped stdin is read
  only for MESSAGE - (whole before the first cycle, at most 1 MiB, within the
  duration), so a pipe that stays open cannot hold the run back.
  Each cycle half-closes after sending, as a single exchange does; add
  --no-half-close to leave that out (one operation less per cycle).
  With --json the report is one JSON object; on a terminal a live progress line
  goes to stderr. Ctrl-C ends the run early and still prints the report (a
  second Ctrl-C stops at once). Exit code 1 if any cycle failed.
  -h, --help               this help
  -V, --version            the version

Examples:
  deno task client
  deno task client "hello there"
  deno task client --port 9000 -- -x      (sends "-x")
  printf 'line\\n' | deno task client
  deno run --allow-net=[::1]:9000 client.ts --host ::1 --port 9000 --json
  deno task client --connections 64 --duration 5s
  deno task load --port 9000 --duration 5s

Exit codes: 0 success, 1 network failure (also no reply, or the message cut
short), 2 wrong command line, 130 Ctrl-C in an -i session.`);
}

/**
 * Standard input, chunk by chunk as it comes: on a terminal, a line each
 * time Enter is pressed. Plain reads, not Deno.stdin.readable: streams cost
 * start-up time.
 */
async function* readStdin(): AsyncGenerator<Uint8Array> {
  while (true) {
    const buffer = new Uint8Array(64 * 1024);
    const count = await Deno.stdin.read(buffer);
    if (count === null) return;
    yield buffer.subarray(0, count);
  }
}

/**
 * Standard input as the message, read as it is sent once the connection is
 * open; an empty input (such as /dev/null) sends the lab's message instead.
 * Reading only after connecting means a pipe that stays open and silent
 * cannot keep the client from ever connecting.
 */
async function* stdinOrDefault(): AsyncGenerator<Uint8Array> {
  let empty = true;
  for await (const chunk of readStdin()) {
    empty = false;
    yield chunk;
  }
  if (empty) yield new TextEncoder().encode(DEFAULT_MESSAGE);
}

/** A client command line, parsed. */
export interface ClientArgs {
  options: SendMessageOptions;
  /** A PEM file of certificate authorities to trust as well, for TLS. */
  caFile?: string;
  /** Present in load mode. */
  load?: LoadOptions;
  json: boolean;
  /** `-i`: a session with what is typed, instead of one message. */
  interactive: boolean;
  /** `--crlf`: send line ends as `\r\n`. */
  crlf: boolean;
}

/** Flags that load mode refuses, and why: each error says what to do instead. */
const LOAD_MODE_REFUSES: [string, string][] = [
  [
    "connect-timeout",
    "does not apply in load mode: --timeout limits a whole cycle, connect included",
  ],
  ["max-reply", "does not apply in load mode: each cycle reads the reply and discards it"],
  ["unix", "is not supported in load mode yet: load a TCP port"],
  ["tls", "is not supported in load mode yet: load a TCP port"],
  ["ca", "is not supported in load mode yet: load a TCP port"],
  ["interactive", "does not apply in load mode: every cycle sends the same message"],
  ["crlf", "does not apply in load mode: give the message with the line ends it needs"],
];

/**
 * Parses the command line, or answers `"help"` / `"version"`; throws
 * `UsageError` for a wrong one. Opens no socket; a piped standard input
 * becomes a message read only when it is sent.
 */
export function parseClientArgs(args: string[]): ClientArgs | "help" | "version" {
  args = withoutTaskDashes(args, TASK_FLAG);
  const { values, positionals } = parseFlags(args, {
    host: { type: "string" },
    unix: { type: "string" },
    tls: { type: "boolean" },
    ca: { type: "string" },
    port: { type: "string", short: "p" },
    message: { type: "string", short: "m" },
    "connect-timeout": { type: "string" },
    timeout: { type: "string" },
    "max-reply": { type: "string" },
    "no-half-close": { type: "boolean" },
    connections: { type: "string", short: "c" },
    duration: { type: "string", short: "d" },
    count: { type: "string", short: "n" },
    "keep-alive": { type: "boolean" },
    load: { type: "boolean" },
    engine: { type: "string" },
    json: { type: "boolean" },
    interactive: { type: "boolean", short: "i" },
    crlf: { type: "boolean" },
    help: { type: "boolean", short: "h" },
    version: { type: "boolean", short: "V" },
  }, true);
  if (values.help) return "help";
  if (values.version) return "version";
  const text = (name: string) => values[name] as string | undefined;
  const options: SendMessageOptions = {};
  if (text("host") !== undefined) {
    options.hostname = parseHost(text("host")!);
  }
  if (text("port") !== undefined) options.port = parsePort(text("port")!, 1);
  if (text("unix") !== undefined) {
    if (text("unix") === "") throw new UsageError(`Invalid Unix socket path ""`);
    for (const name of ["host", "port"]) {
      if (values[name] !== undefined) {
        throw new UsageError(`Flags "--unix" and "--${name}" cannot be used together`);
      }
    }
    options.path = text("unix");
  }
  if (text("message") !== undefined && positionals.length > 0) {
    throw new UsageError(`Give the message as an argument or with "--message", not both`);
  }
  const interactive = values.interactive === true;
  const crlf = values.crlf === true;
  if (interactive) {
    if (text("message") !== undefined || positionals.length > 0) {
      throw new UsageError(
        `Flag "--interactive" sends what you type: give no MESSAGE or "--message"`,
      );
    }
    if (values.json) {
      throw new UsageError(`Flags "--interactive" and "--json" cannot be used together`);
    }
  } else if (text("message") !== undefined) options.message = text("message");
  else if (positionals.length > 0) options.message = positionals.join(" ");
  else if (!Deno.stdin.isTerminal()) {
    options.message = stdinOrDefault();
    // A pipe may pause as long as it likes (tail -f): only an explicit
    // --timeout counts its silences; the default one waits on the server.
    if (text("timeout") === undefined) options.timeoutIncludesInput = false;
  }
  if (text("connect-timeout") !== undefined) {
    options.connectTimeout = parseDuration(text("connect-timeout")!, "connect timeout");
  }
  if (text("timeout") !== undefined) {
    options.replyTimeout = parseDuration(text("timeout")!, "timeout");
  }
  if (text("max-reply") !== undefined) {
    options.maxReplyBytes = parseSize(text("max-reply")!, "maximum reply size");
  }
  if (values["no-half-close"]) options.halfClose = false;
  if (values.tls || text("ca") !== undefined) {
    if (options.path !== undefined) {
      throw new UsageError(`Flags "--unix" and "--tls" cannot be used together`);
    }
    options.tls = true;
  }
  const loadFlags = ["connections", "duration", "count", "keep-alive", "load", "engine"];
  if (!loadFlags.some((name) => values[name] !== undefined)) {
    return { options, caFile: text("ca"), json: values.json === true, interactive, crlf };
  }
  for (const [name, why] of LOAD_MODE_REFUSES) {
    if (values[name] !== undefined) throw new UsageError(`Flag "--${name}" ${why}`);
  }
  const load: LoadOptions = {
    hostname: options.hostname,
    port: options.port,
    keepAlive: values["keep-alive"] === true,
  };
  if (values["no-half-close"]) load.halfClose = false;
  if (text("connections") !== undefined) {
    load.concurrency = parseCount(text("connections")!, "connections", 1);
  }
  if (text("duration") !== undefined) {
    load.duration = parseDuration(text("duration")!, "duration", false);
    // The library reads 0 as "no time limit", which with no --count is a run
    // that never ends: not what anyone typing -d 0 means.
    if (load.duration === 0) {
      throw new UsageError(
        `Invalid duration "${text("duration")}": expected more than 0, such as 5s ` +
          `(for a run bounded by cycles alone, give --count without --duration)`,
      );
    }
  }
  if (text("count") !== undefined) load.count = parseCount(text("count")!, "count", 1);
  if (text("timeout") !== undefined) load.cycleTimeout = options.replyTimeout;
  const engine = text("engine");
  if (engine !== undefined) {
    if (engine !== "auto" && engine !== "epoll" && engine !== "portable") {
      throw new UsageError(`Invalid engine "${engine}": expected auto, epoll or portable`);
    }
    load.engine = engine;
  }
  return { options, load, json: values.json === true, interactive, crlf };
}

/** Runs the load, shows progress on a terminal, prints the report; resolves to the exit code. */
async function runLoadMode(
  load: LoadOptions,
  message: SendMessageOptions["message"],
  json: boolean,
  rerun: () => string,
): Promise<number> {
  // Every cycle sends the same bytes: read whole first, stdin only for `-`.
  let bytes: Uint8Array;
  try {
    const { loadMessage } = await import("./lib/_load_message.ts");
    bytes = await loadMessage(message, load.duration ?? (load.count ? undefined : 10_000));
  } catch (error) {
    return reportFailure(error, USAGE_HINT);
  }
  if (load.keepAlive && bytes.at(-1) !== 0x0a) bytes = new Uint8Array([...bytes, 0x0a]);
  const { runLoad } = await import("./lib/load.ts");
  const { formatLoadProgress, formatLoadReport } = await import("./lib/load_format.ts");
  const live = !json && Deno.stderr.isTerminal();
  const encoder = new TextEncoder();
  const target = formatAddress({ hostname: load.hostname ?? "127.0.0.1", port: load.port ?? 8080 });
  // Ctrl-C ends the run early and still prints the report, as wrk does; a
  // second Ctrl-C stops at once.
  const stop = new AbortController();
  const onInterrupt = stopListener(() => stop.abort(), () => Deno.exit(EXIT_INTERRUPTED));
  Deno.addSignalListener("SIGINT", onInterrupt);
  try {
    const report = await runLoad({
      ...load,
      signal: stop.signal,
      message: bytes,
      onProgress: live
        ? (progress) =>
          Deno.stderr.writeSync(encoder.encode(`\r\x1b[K${formatLoadProgress(progress)}`))
        : undefined,
    });
    if (live) Deno.stderr.writeSync(encoder.encode("\r\x1b[K"));
    console.log(json ? JSON.stringify(report) : formatLoadReport(report, target));
    return Object.keys(report.errors).length === 0 ? EXIT_OK : EXIT_FAILURE;
  } catch (error) {
    return reportFailure(error, USAGE_HINT, rerun);
  } finally {
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }
}

/** Sends one message and prints the reply; resolves to the exit code. */
export async function main(args: string[]): Promise<number> {
  const parsed = await parseCommandLine(() => parseClientArgs(args), {
    printUsage,
    version: denoJson.version,
    usageHint: USAGE_HINT,
  });
  if (typeof parsed === "number") return parsed;
  const { options, caFile, load, json } = parsed;
  const typed = withoutTaskDashes(args, TASK_FLAG);
  const { hostname = "127.0.0.1", port = 8080, path } = options;
  // The epoll engine needs FFI; keep it in the command where it would run now.
  const ffi = load !== undefined && load.engine !== "portable" &&
    (load.engine === "epoll" || Deno.permissions.querySync({ name: "ffi" }).state === "granted");
  const rerun = () =>
    rerunCommand(import.meta.url, clientGrants({ hostname, port, path, caFile, ffi }), typed);
  // Asked before connecting so that the answer is the whole command to run.
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
  if (caFile !== undefined) {
    try {
      options.tls = { caCerts: [await Deno.readTextFile(caFile)] };
    } catch (error) {
      if (error instanceof Deno.errors.NotCapable) return reportFailure(error, USAGE_HINT, rerun);
      const detail = error instanceof Deno.errors.NotFound ? "no such file" : String(error);
      return reportFailure(new Error(`Cannot read the CA file "${caFile}": ${detail}`), USAGE_HINT);
    }
  }
  if (load) return await runLoadMode(load, options.message, json, rerun);
  // Stream the reply to stdout as it arrives; whatever arrived before a
  // failure has been written by the time the error is reported.
  let lastByte: number | undefined;
  const output = {
    write(chunk: Uint8Array) {
      lastByte = chunk[chunk.length - 1];
      return writeAll(Deno.stdout, chunk);
    },
  };
  // Like the lab's `print`, end the line on a terminal; piped output stays byte for byte.
  const endLine = async () => {
    if (lastByte !== undefined && lastByte !== 0x0a && Deno.stdout.isTerminal()) {
      await Deno.stdout.write(new Uint8Array([0x0a]));
    }
  };
  if (parsed.interactive) {
    const { runInteractive } = await import("./lib/_session_cli.ts");
    return await runInteractive(options, {
      input: readStdin(),
      output,
      endLine,
      crlf: parsed.crlf,
      usageHint: USAGE_HINT,
    });
  }
  if (parsed.crlf) {
    const { toCrlf } = await import("./lib/interactive.ts");
    const message = options.message ?? DEFAULT_MESSAGE;
    options.message = typeof message === "string"
      ? message.replace(/\r?\n/g, "\r\n")
      : toCrlf(message as AsyncIterable<Uint8Array>);
  }
  const jsonResult = json ? await import("./lib/_result_json.ts") : undefined;
  const collected = jsonResult?.collectReply();
  const printJson = async (...args: Parameters<NonNullable<typeof jsonResult>["resultJson"]>) => {
    const encoder = new TextEncoder();
    try {
      for (const piece of jsonResult!.resultJson(...args)) {
        await writeAll(Deno.stdout, encoder.encode(piece));
      }
    } catch (error) {
      // Named as the plain client names it: stdout failed, not the connection.
      throw withContext(error, "Cannot write the reply");
    }
  };
  try {
    const result = await sendMessage({ ...options, output: collected ?? output });
    await endLine();
    if (collected) await printJson({ ...result, reply: collected.bytes() });
    if (result.bytesReceived === 0) {
      // The client cannot tell a server that read the message and chose to
      // say nothing from one that refused it unread (--allow): neither is
      // the reply that was asked for.
      return reportFailure(
        new Error(
          `"${result.remoteAddress}" closed the connection without a reply; ` +
            `a server that refuses a client (as with --allow) does this`,
        ),
        USAGE_HINT,
      );
    }
    return EXIT_OK;
  } catch (error) {
    await endLine();
    // What arrived before the failure, with the error, as the plain client prints it.
    const reply = collected?.bytes();
    if (reply?.length) {
      const message = (error instanceof Error ? error.message : String(error))
        .replace(/ \(os error \d+\)$/, "");
      await printJson({ reply, bytesReceived: reply.length }, message).catch(() => {});
    }
    return reportFailure(error, USAGE_HINT, rerun);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
