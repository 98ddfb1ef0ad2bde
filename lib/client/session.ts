/**
 * An interactive session, the way people use `nc host port`: what the input
 * gives is sent as it comes (a terminal gives a line each time Enter is
 * pressed), and what the server sends is written out as it arrives, both
 * ways at once. The end of the input half-closes; the session lasts until
 * the server closes.
 *
 * It is one exchange of {@linkcode sendMessage} with three differences: no
 * default message, no timeout or reply limit unless asked for (a person may
 * think for as long as they like), and the server closing ends it at once,
 * with whatever was not yet sent left unsent, as `nc` and `telnet` do.
 *
 * @module
 */

import { exchange, type ReplySink, type SendMessageOptions } from "../client.ts";
import { checkByteLimit } from "./options.ts";
import { checkTimeout } from "../_time.ts";

/** Options for {@linkcode runSession}. Every field is optional. */
export interface SessionOptions {
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
  /** Connect to the Unix domain socket at this path instead. */
  path?: string;
  /**
   * Use TLS: `true`, or `{ caCerts }` to trust these PEM certificates too.
   *
   * @default {false}
   */
  tls?: boolean | { caCerts?: string[] };
  /**
   * Send every line end as `\r\n`, as SMTP, HTTP and Redis expect: a `\n`
   * not already after a `\r` becomes `\r\n`.
   *
   * @default {false}
   */
  crlf?: boolean;
  /**
   * Half-close when the input ends (Ctrl-D on a terminal), telling the
   * server we are done; the session then lasts until the server closes.
   *
   * @default {true}
   */
  halfClose?: boolean;
  /**
   * Give up connecting after this many milliseconds. `0` means no timeout.
   *
   * @default {10000}
   */
  connectTimeout?: number;
  /**
   * End the session once nothing has moved for this many milliseconds,
   * either way, input included (as `nc -w` does). `0` means never.
   *
   * @default {0}
   */
  idleTimeout?: number;
  /**
   * The most bytes accepted from the server over the whole session.
   *
   * @default {Infinity}
   */
  maxReceivedBytes?: number;
  /** Called once the connection is open, with both ends' addresses. */
  onConnect?: (addresses: { localAddress: string; remoteAddress: string }) => void;
  /** Aborting this signal closes the connection at once (Ctrl-C). */
  signal?: AbortSignal;
}

/** What {@linkcode runSession} resolves to. */
export interface SessionResult {
  /** Bytes sent. */
  bytesSent: number;
  /** Bytes received. */
  bytesReceived: number;
  /** Milliseconds until the connection was open. */
  connectMs: number;
  /** Milliseconds until the session ended. */
  totalMs: number;
  /** Our end of the connection, as `host:port`. */
  localAddress: string;
  /** The server's end, as `host:port`. */
  remoteAddress: string;
  /**
   * Whether the input had ended before the server closed. `false` means the
   * server ended the session while the input was still open.
   */
  inputEnded: boolean;
}

/**
 * Turns each `\n` not already after a `\r` into `\r\n`, across chunk
 * boundaries.
 *
 * @example Typing SMTP by hand
 * ```ts
 * import { toCrlf } from "./session.ts";
 *
 * async function* typed() {
 *   yield new TextEncoder().encode("HELO me\n");
 * }
 * for await (const chunk of toCrlf(typed())) console.log(JSON.stringify(new TextDecoder().decode(chunk))); // "HELO me\r\n"
 * ```
 *
 * @param input The bytes as typed or piped.
 * @returns The same bytes with CRLF line ends.
 */
export async function* toCrlf(input: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let last = 0; // the byte before this chunk
  for await (const chunk of input) {
    const bare = (i: number) => chunk[i] === 0x0a && (i === 0 ? last : chunk[i - 1]) !== 0x0d;
    let lineFeeds = 0;
    for (let i = 0; i < chunk.length; i++) if (bare(i)) lineFeeds++;
    if (lineFeeds === 0) {
      if (chunk.length > 0) last = chunk[chunk.length - 1];
      yield chunk;
      continue;
    }
    const out = new Uint8Array(chunk.length + lineFeeds);
    let at = 0;
    for (let i = 0; i < chunk.length; i++) {
      if (bare(i)) out[at++] = 0x0d;
      out[at++] = chunk[i];
    }
    last = chunk[chunk.length - 1];
    yield out;
  }
}

/**
 * Connects and runs a session: sends `input` as it comes, writes what the
 * server sends to `output` as it arrives, half-closes when `input` ends, and
 * resolves when the server closes.
 *
 * Rejects as {@linkcode sendMessage} does (`Deno.errors.ConnectionRefused`,
 * `ConnectionReset`, `TimedOut`, each naming the address), and with the
 * signal's reason once it aborts.
 *
 * @example A session with a line server
 * ```ts
 * import { runSession, serve } from "../mod.ts";
 *
 * await using server = serve({ hostname: "127.0.0.1", port: 0, framing: "line", keepAlive: true });
 * async function* lines() {
 *   yield new TextEncoder().encode("one\n");
 *   yield new TextEncoder().encode("two\n");
 * }
 * const output = { write: (chunk: Uint8Array) => Deno.stdout.write(chunk) };
 * const result = await runSession(lines(), output, { port: server.addr.port });
 * console.log(result.bytesReceived); // 44: two replies, each with its newline
 * ```
 *
 * @param input What to send, chunk by chunk: `Deno.stdin.readable`, or any async iterable.
 * @param output Where to write what the server sends.
 * @param options Where to connect, line ends and limits.
 * @returns Byte counts, timings, and whether the input had ended.
 */
export async function runSession(
  input: AsyncIterable<Uint8Array>,
  output: WritableStream<Uint8Array> | ReplySink,
  options: SessionOptions = {},
): Promise<SessionResult> {
  const {
    crlf = false,
    idleTimeout = 0,
    maxReceivedBytes = Infinity,
    onConnect,
    ...connection
  } = options;
  if (typeof (input as AsyncIterable<Uint8Array>)?.[Symbol.asyncIterator] !== "function") {
    throw new TypeError("Invalid input: expected an async iterable of bytes");
  }
  if (typeof crlf !== "boolean") {
    throw new TypeError(`Invalid crlf "${crlf}": expected true or false`);
  }
  // Checked under the session's own names; the rest, as sendMessage's options.
  checkTimeout("idleTimeout", idleTimeout);
  checkByteLimit("maxReceivedBytes", maxReceivedBytes);
  let inputEnded = false;
  async function* watched(): AsyncGenerator<Uint8Array> {
    yield* crlf ? toCrlf(input) : input;
    inputEnded = true;
  }
  const exchangeOptions: SendMessageOptions = {
    ...connection,
    message: watched(),
    output,
    replyTimeout: idleTimeout,
    maxReplyBytes: maxReceivedBytes,
  };
  const result = await exchange(exchangeOptions, { endWithServer: true, onConnect });
  const { bytesSent, bytesReceived, connectMs, totalMs, localAddress, remoteAddress } = result;
  return { bytesSent, bytesReceived, connectMs, totalMs, localAddress, remoteAddress, inputEnded };
}
