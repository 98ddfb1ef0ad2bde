/**
 * The client flow: connect, send, half-close, read the reply to EOF, close.
 *
 * The lab client sent its message and took one `recv(1024)` as the reply. This
 * one half-closes after sending, which tells any server that the message is
 * complete, then reads until the server closes, so a reply of any length
 * arrives whole. Sending and receiving run side by side: a server that echoes
 * while it reads can never deadlock against a client still writing.
 *
 * @module
 */

import { callAfter, closeQuietly, formatAddress, IdleTimer, writeAll } from "./_io.ts";

/** The lab's message. */
export const DEFAULT_MESSAGE = "Hai from client";

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
   * The longest reply accepted, in bytes; past it the exchange fails.
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
  /** Aborting this signal ends the exchange with the signal's reason. */
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

/** What {@linkcode sendMessage} resolves to. */
export interface SendMessageResult {
  /** The reply's bytes (empty when `output` was given). */
  reply: Uint8Array;
  /** Bytes sent; less than the message when the server closed first. */
  bytesSent: number;
  /** Bytes received. */
  bytesReceived: number;
  /** Milliseconds until the connection was open. */
  connectMs: number;
  /** Milliseconds until the first byte of the reply, or `null` for an empty reply. */
  firstByteMs: number | null;
  /** Milliseconds until the server closed. */
  totalMs: number;
  /** Our end of the connection, as `host:port`. */
  localAddress: string;
  /** The server's end, as `host:port`. */
  remoteAddress: string;
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

/**
 * Connects over TLS and completes the handshake at once, so that a
 * certificate the client does not trust fails here, named as such, rather
 * than as a write error later.
 */
async function connectTls(
  hostname: string,
  port: number,
  caCerts: string[],
  connectTimeout: number,
): Promise<Deno.TlsConn> {
  const target = formatAddress({ hostname, port });
  let cancelTimer: (() => void) | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    if (connectTimeout > 0 && Number.isFinite(connectTimeout)) {
      cancelTimer = callAfter(connectTimeout, () =>
        reject(
          new Deno.errors.TimedOut(
            `Cannot connect to "${target}": no answer within ${formatMs(connectTimeout)}`,
          ),
        ));
    }
  });
  const connecting = (async () => {
    const conn = await Deno.connectTls({ hostname, port, caCerts });
    try {
      await conn.handshake();
    } catch (error) {
      closeQuietly(conn);
      throw error;
    }
    return conn;
  })();
  try {
    return await Promise.race([connecting, timedOut]);
  } catch (error) {
    // A connect that outlives its timeout is closed when it completes.
    connecting.then(closeQuietly, () => {});
    if (error instanceof Deno.errors.TimedOut || error instanceof Deno.errors.NotCapable) {
      throw error;
    }
    throw withContext(error, `Cannot connect to "${target}"`);
  } finally {
    cancelTimer?.();
  }
}

/** A Unix socket connects at once or not at all: it needs no timeout. */
async function connectUnix(path: string): Promise<Deno.Conn> {
  try {
    return await Deno.connect({ transport: "unix", path });
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) throw error;
    throw withContext(error, `Cannot connect to "unix:${path}"`);
  }
}

async function connect(
  hostname: string,
  port: number,
  connectTimeout: number,
  signal: AbortSignal | undefined,
): Promise<Deno.TcpConn> {
  const target = formatAddress({ hostname, port });
  const controller = new AbortController();
  const connecting = Deno.connect({ hostname, port, signal: controller.signal });
  const cancelTimer = connectTimeout > 0 && Number.isFinite(connectTimeout)
    ? callAfter(connectTimeout, () =>
      controller.abort(
        new Deno.errors.TimedOut(
          `Cannot connect to "${target}": no answer within ${formatMs(connectTimeout)}`,
        ),
      ))
    : undefined;
  const onAbort = () => controller.abort(signal?.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    return await connecting;
  } catch (error) {
    if (controller.signal.aborted) throw controller.signal.reason;
    if (error instanceof Deno.errors.NotCapable) throw error;
    // "localhost" is this machine over either IP family (RFC 6761), but a
    // hosts file may name only one: when it is refused, try both loopbacks.
    if (error instanceof Deno.errors.ConnectionRefused && /^(.+\.)?localhost\.?$/i.test(hostname)) {
      for (const loopback of ["::1", "127.0.0.1"]) {
        try {
          return await Deno.connect({ hostname: loopback, port, signal: controller.signal });
        } catch {
          if (controller.signal.aborted) throw controller.signal.reason;
          // refused, or not permitted: the original error says more
        }
      }
    }
    throw withContext(error, `Cannot connect to "${target}"`);
  } finally {
    cancelTimer?.();
    signal?.removeEventListener("abort", onAbort);
  }
}

/**
 * Rebuilds an I/O error with the operation and address in front, keeping its
 * class (so `instanceof Deno.errors.ConnectionRefused` still holds) and the
 * original as `cause`. Drops the `(os error N)` suffix, which only repeats it.
 */
function withContext(error: unknown, context: string): Error {
  if (!(error instanceof Error)) return new Error(`${context}: ${String(error)}`);
  const detail = error.message.replace(/ \(os error \d+\)$/, "");
  const text = `${context}: ${detail.charAt(0).toLowerCase()}${detail.slice(1)}`;
  const ErrorClass = Object.values(Deno.errors).includes(error.constructor as typeof Error)
    ? error.constructor as ErrorConstructor
    : Error;
  return new ErrorClass(text, { cause: error });
}

/**
 * Sends the message, then half-closes. Returns a way to stop reading a
 * message stream once the exchange is over, so that a pipe that never ends
 * cannot keep the exchange alive.
 */
function sendAll(
  conn: Deno.Conn,
  message: Uint8Array | AsyncIterable<Uint8Array>,
  halfClose: boolean,
  onProgress: (count: number) => void,
): { done: Promise<void>; cancel(): void } {
  const finish = () => halfClose ? conn.closeWrite() : Promise.resolve();
  if (message instanceof Uint8Array) {
    const done = writeAll(conn, message, onProgress).then(finish);
    return { done, cancel() {} };
  }
  const chunks = message[Symbol.asyncIterator]();
  const pump = async () => {
    while (true) {
      const { value, done } = await chunks.next();
      if (done) break;
      onProgress(0); // a chunk arriving is progress, even before it is written
      await writeAll(conn, value, onProgress);
    }
    await finish();
  };
  return { done: pump(), cancel: () => void chunks.return?.()?.catch(() => {}) };
}

/**
 * Connects, sends a message, half-closes, and reads the reply until the
 * server closes.
 *
 * Rejects with `Deno.errors.ConnectionRefused`, `Deno.errors.TimedOut`,
 * `Deno.errors.ConnectionReset` and the like, each with a one-line message
 * that names the address: `Cannot connect to "127.0.0.1:8080": connection
 * refused`. A reply over `maxReplyBytes` rejects with a `RangeError`.
 *
 * @example Asking the lab server
 * ```ts
 * import { sendMessage } from "./client.ts";
 *
 * const result = await sendMessage({ hostname: "127.0.0.1", port: 8080 });
 * console.log(new TextDecoder().decode(result.reply)); // Thanks for connecting
 * ```
 *
 * @param options Where to connect, what to send, and the limits.
 * @returns The reply and timings.
 */
export async function sendMessage(options: SendMessageOptions = {}): Promise<SendMessageResult> {
  const {
    hostname = "127.0.0.1",
    port = 8080,
    message = DEFAULT_MESSAGE,
    halfClose = true,
    connectTimeout = 10_000,
    replyTimeout = 30_000,
    maxReplyBytes = 16 * 1024 * 1024,
    output,
    path,
    tls,
    signal,
  } = options;
  if (path === undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
    throw new RangeError(`Invalid port "${port}": expected a whole number from 1 to 65535`);
  }
  signal?.throwIfAborted();
  const startedAt = performance.now();
  const conn = path !== undefined
    ? await connectUnix(path)
    : tls
    ? await connectTls(hostname, port, tls === true ? [] : tls.caCerts ?? [], connectTimeout)
    : await connect(hostname, port, connectTimeout, signal);
  const connectMs = performance.now() - startedAt;
  const remoteAddress = formatAddress(conn.remoteAddr, path);
  let failure: Error | undefined;
  let failed!: () => void;
  const failedSignal = new Promise<void>((resolve) => failed = resolve);
  const fail = (error: Error) => {
    failure ??= error;
    closeQuietly(conn);
    failed();
  };
  const idle = new IdleTimer(
    replyTimeout,
    () =>
      fail(
        new Deno.errors.TimedOut(
          `Gave up on "${remoteAddress}": nothing moved for ${formatMs(replyTimeout)}`,
        ),
      ),
  );
  const onAbort = () => fail(signal!.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  let bytesSent = 0;
  const sending = sendAll(
    conn,
    typeof message === "string" ? new TextEncoder().encode(message) : message,
    halfClose,
    (count) => {
      bytesSent += count;
      idle.touch();
    },
  );
  // The server may close before it has read everything (the lab's framing
  // takes one read); the reply it sent is still the answer, so a failed send
  // is not an error of its own.
  sending.done.catch(() => {});

  const writer = output instanceof WritableStream ? output.getWriter() : output;
  const chunks: Uint8Array[] = [];
  let bytesReceived = 0;
  let firstByteMs: number | null = null;
  try {
    const buffer = new Uint8Array(64 * 1024);
    while (true) {
      const count = await conn.read(buffer);
      if (count === null) break;
      idle.touch();
      firstByteMs ??= performance.now() - startedAt;
      const room = maxReplyBytes - bytesReceived;
      const kept = buffer.subarray(0, Math.min(count, room));
      bytesReceived += kept.length;
      if (writer) await writer.write(kept);
      else chunks.push(kept.slice());
      if (count > room) {
        throw new RangeError(
          `Reply from "${remoteAddress}" is over the limit of ${maxReplyBytes} bytes`,
        );
      }
    }
    // The server may stop sending before it stops reading (a half-close, as
    // nc -N does): finish sending the message, under the same timeout.
    await Promise.race([sending.done.catch(() => {}), failedSignal]);
  } catch (error) {
    if (failure) throw failure;
    if (error instanceof RangeError) throw error;
    throw withContext(error, `Connection to "${remoteAddress}" failed`);
  } finally {
    sending.cancel();
    idle.stop();
    signal?.removeEventListener("abort", onAbort);
    if (output instanceof WritableStream) (writer as WritableStreamDefaultWriter).releaseLock();
    closeQuietly(conn);
  }
  if (failure) throw failure;
  const reply = new Uint8Array(writer ? 0 : bytesReceived);
  let offset = 0;
  for (const chunk of chunks) {
    reply.set(chunk, offset);
    offset += chunk.length;
  }
  return {
    reply,
    bytesSent,
    bytesReceived,
    connectMs,
    firstByteMs,
    totalMs: performance.now() - startedAt,
    localAddress: formatAddress(conn.localAddr, path),
    remoteAddress,
  };
}
