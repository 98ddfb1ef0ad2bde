/**
 * `client.ts`'s command line and terminal: every flag checked and turned
 * into options for `sendMessage`, a session or a load run, with one-line
 * errors; standard input as the message, standard output for the reply.
 * Parsing opens no socket and reads no file, so the docs test checks every
 * documented command with it. Reads and writes are plain ones, not
 * `Deno.stdin.readable`: streams cost start-up time.
 *
 * @module
 */

import { DEFAULT_MESSAGE, type ReplySink, type SendMessageOptions } from "../client.ts";
import { writeAll } from "../_io.ts";
import type { LoadOptions } from "../load/run_load.ts";
import { UsageError } from "./exit.ts";
import { parseHost } from "./_host.ts";
import {
  parseCount,
  parseDuration,
  parseFlags,
  parsePort,
  parseSize,
  unixPath,
  withoutTaskDashes,
} from "./flags.ts";

// The script takes the library's client through here, not through
// lib/mod.ts, which loads the server too: a client run once would pay for
// that at every start.
export { CLIENT_DEFAULTS, DEFAULT_MESSAGE, sendMessage } from "../client.ts";

/** The flag the load task ends in: a `--` after it is the user's first. */
export const CLIENT_TASK_FLAG = { name: "--load", words: 1 } as const;

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
  args = withoutTaskDashes(args, CLIENT_TASK_FLAG);
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
  if (text("host") !== undefined) options.hostname = parseHost(text("host")!);
  if (text("port") !== undefined) options.port = parsePort(text("port")!, 1);
  const path = unixPath(values, ["host", "port"]);
  if (path !== undefined) options.path = path;
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

/**
 * Standard input, chunk by chunk as it comes: on a terminal, a line each
 * time Enter is pressed.
 */
export async function* readStdin(): AsyncGenerator<Uint8Array> {
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
export async function* stdinOrDefault(): AsyncGenerator<Uint8Array> {
  let empty = true;
  for await (const chunk of readStdin()) {
    empty = false;
    yield chunk;
  }
  if (empty) yield new TextEncoder().encode(DEFAULT_MESSAGE);
}

/** Standard output as the reply's sink, and a way to end its last line. */
export interface StdoutSink {
  /** Writes the reply as it arrives; whatever arrived before a failure is written. */
  output: ReplySink;
  /** Ends the output's last line on a terminal, like the lab's `print`; piped output stays byte for byte. */
  endLine: () => Promise<void>;
}

/** Standard output, for the reply: streamed as it arrives. */
export function stdoutSink(): StdoutSink {
  let lastByte: number | undefined;
  return {
    output: {
      write(chunk: Uint8Array) {
        lastByte = chunk[chunk.length - 1];
        return writeAll(Deno.stdout, chunk);
      },
    },
    async endLine() {
      if (lastByte !== undefined && lastByte !== 0x0a && Deno.stdout.isTerminal()) {
        await Deno.stdout.write(new Uint8Array([0x0a]));
      }
    },
  };
}
