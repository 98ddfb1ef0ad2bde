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

// Only what one exchange needs loads at start: a client is often run once,
// so its start-up time is most of its run time. Load mode, a session, the
// JSON result and the command for a missing permission load when used.
import { EXIT_OK, parseCommandLine, reportFailure } from "./lib/cli/exit.ts";
import { withoutTaskDashes } from "./lib/cli/flags.ts";
import { addressNeeds, missingPermission, unixNeeds } from "./lib/cli/permissions.ts";
import {
  CLIENT_DEFAULTS,
  CLIENT_TASK_FLAG,
  DEFAULT_MESSAGE,
  parseClientArgs,
  readStdin,
  sendMessage,
  stdoutSink,
} from "./lib/cli/client_args.ts";

export { type ClientArgs, parseClientArgs } from "./lib/cli/client_args.ts";

const USAGE_HINT = "Usage: deno task client [flags] [MESSAGE]; --help lists them";

/** The version in deno.json, read only for --help and --version. */
async function version(): Promise<string> {
  const { default: denoJson } = await import("./deno.json", { with: { type: "json" } });
  return denoJson.version;
}

function printUsage(version: string): void {
  console.log(`TCP client ${version}: the networking lab's client, production grade

Usage: deno task client [flags] [MESSAGE]
       deno run --allow-net=HOST:PORT client.ts [flags] [MESSAGE]

The message is MESSAGE, or --message, or standard input when it is piped, or
"Hai from client". After sending, the client half-closes and reads the reply
until the server closes; the reply goes to stdout unchanged.

The client and load tasks may reach any port of 127.0.0.1, [::1] and
localhost; for another host the client prints the deno run command that works.
A -- before the flags (the npm habit) is ignored; any later -- ends the flags.

  --host HOST              server name or address (default ${CLIENT_DEFAULTS.hostname})
  -p, --port PORT          server port (default ${CLIENT_DEFAULTS.port})
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

/** Sends one message and prints the reply; resolves to the exit code. */
export async function main(args: string[]): Promise<number> {
  const parsed = await parseCommandLine(() => parseClientArgs(args), {
    printUsage,
    version,
    usageHint: USAGE_HINT,
  });
  if (typeof parsed === "number") return parsed;
  const { options, caFile, load, json } = parsed;
  const { hostname = CLIENT_DEFAULTS.hostname, port = CLIENT_DEFAULTS.port, path } = options;
  // The command that would work, built only when a permission is missing.
  const rerun = async () => {
    const { clientGrants, rerunCommand } = await import("./lib/cli/rerun.ts");
    // The epoll engine needs FFI; keep it in the command where it would run now.
    const ffi = load !== undefined && load.engine !== "portable" &&
      (load.engine === "epoll" || Deno.permissions.querySync({ name: "ffi" }).state === "granted");
    const grants = clientGrants({ hostname, port, path, caFile, ffi });
    return rerunCommand(import.meta.url, grants, withoutTaskDashes(args, CLIENT_TASK_FLAG));
  };
  // Asked before connecting so that the answer is the whole command to run.
  const needs = path === undefined ? addressNeeds(hostname, port) : unixNeeds(path);
  const missing = missingPermission(needs);
  if (missing) return await reportFailure(missing, "", rerun);
  if (caFile !== undefined) {
    try {
      const { readPem } = await import("./lib/cli/pem.ts");
      options.tls = { caCerts: [await readPem(caFile, "CA file")] };
    } catch (error) {
      return await reportFailure(error, USAGE_HINT, rerun);
    }
  }
  if (load) {
    const { runLoadMode } = await import("./lib/cli/load_mode.ts");
    return await runLoadMode(load, options.message, { json, rerun, usageHint: USAGE_HINT });
  }
  const { output, endLine } = stdoutSink();
  if (parsed.interactive) {
    const { runInteractive } = await import("./lib/cli/interactive.ts");
    return await runInteractive(options, {
      input: readStdin(),
      output,
      endLine,
      crlf: parsed.crlf,
      usageHint: USAGE_HINT,
    });
  }
  if (parsed.crlf) {
    const { toCrlf } = await import("./lib/client/session.ts");
    const message = options.message ?? DEFAULT_MESSAGE;
    options.message = typeof message === "string"
      ? message.replace(/\r?\n/g, "\r\n")
      : toCrlf(message as AsyncIterable<Uint8Array>);
  }
  // --json keeps the reply as it comes, to print even when the exchange fails.
  const jsonOut = json ? await import("./lib/cli/result_json.ts") : undefined;
  const collected = jsonOut?.collectReply();
  try {
    const result = await sendMessage({ ...options, output: collected ?? output });
    await endLine();
    if (collected) await jsonOut!.writeResultJson({ ...result, reply: collected.bytes() });
    if (result.bytesReceived === 0) {
      // The client cannot tell a server that read the message and chose to
      // say nothing from one that refused it unread (--allow): neither is
      // the reply that was asked for.
      return await reportFailure(
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
      await jsonOut!.writeResultJson({ reply, bytesReceived: reply.length }, message)
        .catch(() => {});
    }
    return await reportFailure(error, USAGE_HINT, rerun);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
