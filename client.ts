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
 * ```
 *
 * The reply goes to stdout byte for byte; everything else goes to stderr.
 * Exit codes: 0 success, 1 network failure (refused, timed out, reset), 2 a
 * wrong command line.
 *
 * @module
 */

import denoJson from "./deno.json" with { type: "json" };
// Only what one exchange needs loads at start: a client is often run once,
// so its start-up time is most of its run time. Load mode loads the rest.
import { DEFAULT_MESSAGE, sendMessage, type SendMessageOptions } from "./lib/client.ts";
import type { LoadOptions } from "./lib/load.ts";
import {
  EXIT_FAILURE,
  EXIT_OK,
  parseCommandLine,
  parseCount,
  parseDuration,
  parseFlags,
  parsePort,
  parseSize,
  reportFailure,
  UsageError,
} from "./lib/_cli.ts";

const USAGE_HINT = "Usage: deno task client [flags] [MESSAGE]; --help lists them";

function printUsage(): void {
  console.log(`TCP client ${denoJson.version}: the networking lab's client, production grade

Usage: deno task client [-- flags] [MESSAGE]
       deno run --allow-net=HOST:PORT client.ts [flags] [MESSAGE]

The message is MESSAGE, or --message, or standard input when it is piped, or
"Hai from client". After sending, the client half-closes and reads the reply
until the server closes; the reply goes to stdout unchanged.

  --host HOST              server name or address (default 127.0.0.1)
  -p, --port PORT          server port (default 8080)
  -m, --message TEXT       the message to send
  --connect-timeout TIME   give up connecting after this long, e.g. 500ms, 10s;
                           0 for never (default 10s)
  --timeout TIME           give up when nothing has moved for this long (default 30s)
  --max-reply SIZE         longest reply accepted, e.g. 64KiB, 16MiB (default 16MiB)
  --no-half-close          keep sending open after the message, for peers that hang
                           up on a half-close (an interactive nc -l); the reply then
                           ends when the server closes
  --json                   print a JSON result (reply, bytes, timings) instead

Load mode (any of these turns it on): loop connect, send, read to EOF, close
  -c, --connections N      concurrent connections (default 32)
  -d, --duration TIME      how long to run (default 10s unless --count is given)
  -n, --count N            how many cycles in all
  --keep-alive             keep each connection open: send a line, read a line,
                           repeat (for a server run with --framing line --keep-alive)
  With --json the report is one JSON object; on a terminal a live progress line
  goes to stderr. Exit code 1 if any cycle failed.
  -h, --help               this help
  -V, --version            the version

Examples:
  deno task client
  deno task client -- "hello there"
  printf 'line\\n' | deno task client
  deno run --allow-net=[::1]:9000 client.ts --host ::1 --port 9000 --json
  deno task client -- --connections 64 --duration 5s

Exit codes: 0 success, 1 network failure, 2 wrong command line.`);
}

/**
 * Standard input as the message, when it is piped or redirected and not
 * empty; `undefined` on a terminal, or for an empty input such as /dev/null.
 * The first chunk is read to tell, then sent first.
 */
async function pipedInput(): Promise<ReadableStream<Uint8Array> | undefined> {
  if (Deno.stdin.isTerminal()) return undefined;
  // Plain reads, not Deno.stdin.readable: streams cost start-up time, and
  // the usual case (no input at all) needs none.
  const read = async () => {
    const buffer = new Uint8Array(64 * 1024);
    const count = await Deno.stdin.read(buffer);
    return count === null ? undefined : buffer.subarray(0, count);
  };
  const first = await read();
  if (!first) return undefined;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(first);
    },
    async pull(controller) {
      const chunk = await read();
      if (chunk) controller.enqueue(chunk);
      else controller.close();
    },
  });
}

interface ClientArgs {
  options: SendMessageOptions;
  /** Present in load mode. */
  load?: LoadOptions;
  json: boolean;
}

async function parseClientArgs(args: string[]): Promise<ClientArgs | "help" | "version"> {
  const { values, positionals } = parseFlags(args, {
    host: { type: "string" },
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
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
    version: { type: "boolean", short: "V" },
  }, true);
  if (values.help) return "help";
  if (values.version) return "version";
  const text = (name: string) => values[name] as string | undefined;
  const options: SendMessageOptions = {};
  if (text("host") !== undefined) {
    if (text("host") === "") throw new UsageError(`Invalid host "": expected a name or address`);
    options.hostname = text("host")!.replace(/^\[(.*)\]$/, "$1");
  }
  if (text("port") !== undefined) options.port = parsePort(text("port")!, 1);
  if (text("message") !== undefined && positionals.length > 0) {
    throw new UsageError(`Give the message as an argument or with "--message", not both`);
  }
  if (text("message") !== undefined) options.message = text("message");
  else if (positionals.length > 0) options.message = positionals.join(" ");
  else options.message = await pipedInput();
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
  const loadFlags = ["connections", "duration", "count", "keep-alive", "load"];
  if (!loadFlags.some((name) => values[name] !== undefined)) {
    return { options, json: values.json === true };
  }
  const load: LoadOptions = {
    hostname: options.hostname,
    port: options.port,
    keepAlive: values["keep-alive"] === true,
  };
  if (text("connections") !== undefined) {
    load.concurrency = parseCount(text("connections")!, "connections", 1);
  }
  if (text("duration") !== undefined) {
    load.duration = parseDuration(text("duration")!, "duration");
  }
  if (text("count") !== undefined) load.count = parseCount(text("count")!, "count", 1);
  if (text("timeout") !== undefined) load.cycleTimeout = options.replyTimeout;
  return { options, load, json: values.json === true };
}

/** Writes the result as one JSON object; the reply as text, and as base64 when not UTF-8. */
function printJson(result: Awaited<ReturnType<typeof sendMessage>>): void {
  let reply: string;
  let replyBase64: string | undefined;
  try {
    reply = new TextDecoder("utf-8", { fatal: true }).decode(result.reply);
  } catch {
    reply = new TextDecoder().decode(result.reply);
    replyBase64 = btoa(Array.from(result.reply, (byte) => String.fromCharCode(byte)).join(""));
  }
  const round = (ms: number | null) => ms === null ? null : Math.round(ms * 1000) / 1000;
  console.log(JSON.stringify({
    reply,
    ...(replyBase64 === undefined ? {} : { replyBase64 }),
    bytesSent: result.bytesSent,
    bytesReceived: result.bytesReceived,
    connectMs: round(result.connectMs),
    firstByteMs: round(result.firstByteMs),
    totalMs: round(result.totalMs),
    local: result.localAddress,
    remote: result.remoteAddress,
  }));
}

/** Runs the load, shows progress on a terminal, prints the report; resolves to the exit code. */
async function runLoadMode(
  load: LoadOptions,
  message: SendMessageOptions["message"],
  json: boolean,
): Promise<number> {
  // Every cycle sends the same bytes, so a piped message is read whole first.
  let bytes = message instanceof ReadableStream
    ? new Uint8Array(await new Response(message).arrayBuffer())
    : typeof message === "string"
    ? new TextEncoder().encode(message)
    : new TextEncoder().encode(DEFAULT_MESSAGE);
  if (load.keepAlive && bytes.at(-1) !== 0x0a) bytes = new Uint8Array([...bytes, 0x0a]);
  const { runLoad } = await import("./lib/load.ts");
  const { formatLoadProgress, formatLoadReport } = await import("./lib/load_format.ts");
  const live = !json && Deno.stderr.isTerminal();
  const encoder = new TextEncoder();
  const target = `${load.hostname ?? "127.0.0.1"}:${load.port ?? 8080}`;
  try {
    const report = await runLoad({
      ...load,
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
    return reportFailure(error, USAGE_HINT);
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
  const { options, load, json } = parsed;
  if (load) return await runLoadMode(load, options.message, json);
  // Stream the reply to stdout as it arrives; whatever arrived before a
  // failure has been written by the time the error is reported.
  let lastByte: number | undefined;
  const output = json ? undefined : {
    async write(chunk: Uint8Array) {
      lastByte = chunk[chunk.length - 1];
      let offset = 0;
      while (offset < chunk.length) offset += await Deno.stdout.write(chunk.subarray(offset));
    },
  };
  // Like the lab's `print`, end the line on a terminal; piped output stays byte for byte.
  const endLine = async () => {
    if (lastByte !== undefined && lastByte !== 0x0a && Deno.stdout.isTerminal()) {
      await Deno.stdout.write(new Uint8Array([0x0a]));
    }
  };
  try {
    const result = await sendMessage({ ...options, output });
    await endLine();
    if (json) printJson(result);
    else if (result.bytesReceived === 0) {
      // Not a failure (the exchange completed), but easy to mistake for one.
      console.error(
        `note: "${result.remoteAddress}" closed the connection without a reply` +
          (options.halfClose === false
            ? ""
            : "; if it hangs up on a half-close, try --no-half-close"),
      );
    }
    return EXIT_OK;
  } catch (error) {
    await endLine();
    return reportFailure(error, USAGE_HINT);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
