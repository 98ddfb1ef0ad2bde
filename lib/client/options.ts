/**
 * The client's options, their defaults, and the checks that run on them
 * before anything connects.
 *
 * @module
 */

import { checkTimeout } from "../_time.ts";

/** The lab's message. */
export const DEFAULT_MESSAGE = "Hai from client";

/**
 * The lab's client: where it connects, what it sends, and its limits.
 * `sendMessage`, `runLoad` and `client.ts` all read their defaults here.
 */
export const CLIENT_DEFAULTS = {
  /** The server's address. */
  hostname: "127.0.0.1",
  /** The server's port. */
  port: 8080,
  /** The lab's message. */
  message: DEFAULT_MESSAGE,
  /** How long to wait for a connection to open, in milliseconds. */
  connectTimeout: 10_000,
  /** How long nothing may move before the client gives up, in milliseconds. */
  replyTimeout: 30_000,
  /** The longest reply accepted, in bytes. */
  maxReplyBytes: 16 * 1024 * 1024,
} as const;

/** Options for {@linkcode sendMessage}. Every field is optional; none gives the lab's client. */
export interface SendMessageOptions {
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
   * Use TLS: `true` to trust the system's certificate authorities, or
   * `{ caCerts }` to trust these PEM certificates as well. The server's
   * certificate must name `hostname`.
   *
   * @default {false}
   */
  tls?: boolean | { caCerts?: string[] };
  /**
   * Connect to the Unix domain socket at this path instead; `hostname` and
   * `port` do not apply. Needs `--allow-read`, `--allow-write` and
   * `--allow-net=unix:PATH` for it.
   */
  path?: string;
  /**
   * What to send: text (sent as UTF-8), bytes, or a stream (a
   * `ReadableStream` or any async iterable of chunks) sent as it is read,
   * after the connection is open.
   *
   * @default {"Hai from client"}
   */
  message?: string | Uint8Array | AsyncIterable<Uint8Array>;
  /**
   * Half-close after sending, which tells the server the message is complete.
   * Turn it off for peers that hang up on a half-close, such as an
   * interactive `nc -l`; the reply then ends only when the server closes.
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
   * Give up once nothing has moved for this many milliseconds: no byte from
   * the server, to it, or from `message`. `0` means no timeout.
   *
   * @default {30000}
   */
  replyTimeout?: number;
  /**
   * Whether waiting for the next chunk of a streamed `message` counts
   * towards `replyTimeout`. Turn it off for input that may pause as long as
   * it likes, such as `tail -f` or a person typing: the timeout then covers
   * only waits on the server, until the server closes its side; from then on
   * the rest of the message must come within the timeout too.
   *
   * @default {true}
   */
  timeoutIncludesInput?: boolean;
  /**
   * The longest reply accepted, in bytes; past it the exchange fails.
   * `Infinity` means no limit.
   *
   * @default {16777216}
   */
  maxReplyBytes?: number;
  /**
   * Where to write the reply as it arrives. When set, `reply` in the result
   * is empty and the reply is never held whole in memory. The stream is not
   * closed.
   */
  output?: WritableStream<Uint8Array> | ReplySink;
  /** Aborting this signal ends the exchange with the signal's reason, connecting included. */
  signal?: AbortSignal;
}

/**
 * Somewhere to write the reply, chunk by chunk, waiting for each write: a
 * lighter alternative to a `WritableStream`, such as `{ write: (chunk) =>
 * writeAll(Deno.stdout, chunk) }`.
 */
export interface ReplySink {
  /** Writes one chunk; the chunk's buffer is reused once this resolves. */
  write(chunk: Uint8Array): Promise<unknown>;
}

/** Throws a `RangeError` unless `value` is a whole number of bytes, at least 1, or `Infinity`. */
export function checkByteLimit(name: string, value: unknown): void {
  if (!(value === Infinity || (Number.isSafeInteger(value) && (value as number) >= 1))) {
    throw new RangeError(
      `Invalid ${name} "${value}": expected a whole number of bytes, at least 1, or Infinity`,
    );
  }
}

/**
 * Checks every option before anything connects, so that a mistake fails at
 * once, as a `TypeError` (the wrong kind of value) or a `RangeError` (a
 * number out of range), rather than as odd behaviour later: a negative
 * timeout would otherwise mean none, and a negative reply limit fail only
 * after connecting.
 */
export function checkSendMessageOptions(options: SendMessageOptions): void {
  const {
    hostname,
    port,
    path,
    tls,
    message,
    halfClose,
    connectTimeout,
    replyTimeout,
    timeoutIncludesInput,
    maxReplyBytes,
    output,
    signal,
  } = options;
  if (hostname !== undefined && (typeof hostname !== "string" || hostname === "")) {
    throw new TypeError(`Invalid hostname "${String(hostname)}": expected a name or address`);
  }
  if (path !== undefined) {
    if (typeof path !== "string" || path === "") {
      throw new TypeError(`Invalid path "${String(path)}": expected a Unix socket's path`);
    }
    if (tls) throw new TypeError("Options path and tls cannot be used together");
  } else if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535)) {
    throw new RangeError(`Invalid port "${port}": expected a whole number from 1 to 65535`);
  }
  if (
    tls !== undefined && typeof tls !== "boolean" &&
    !(typeof tls === "object" && tls !== null &&
      (tls.caCerts === undefined ||
        (Array.isArray(tls.caCerts) && tls.caCerts.every((pem) => typeof pem === "string"))))
  ) {
    throw new TypeError("Invalid tls: expected true, false or { caCerts: string[] }");
  }
  if (
    message !== undefined && typeof message !== "string" && !(message instanceof Uint8Array) &&
    typeof (message as AsyncIterable<Uint8Array>)?.[Symbol.asyncIterator] !== "function"
  ) {
    throw new TypeError("Invalid message: expected a string, bytes or an async iterable of bytes");
  }
  for (
    const [name, value] of [["halfClose", halfClose], [
      "timeoutIncludesInput",
      timeoutIncludesInput,
    ]]
  ) {
    if (value !== undefined && typeof value !== "boolean") {
      throw new TypeError(`Invalid ${name} "${String(value)}": expected true or false`);
    }
  }
  if (connectTimeout !== undefined) checkTimeout("connectTimeout", connectTimeout);
  if (replyTimeout !== undefined) checkTimeout("replyTimeout", replyTimeout);
  if (maxReplyBytes !== undefined) checkByteLimit("maxReplyBytes", maxReplyBytes);
  if (
    output !== undefined && !(output instanceof WritableStream) &&
    typeof (output as ReplySink)?.write !== "function"
  ) {
    throw new TypeError("Invalid output: expected a WritableStream or an object with write()");
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError("Invalid signal: expected an AbortSignal");
  }
}
