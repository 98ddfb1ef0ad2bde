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

import { closeQuietly, formatAddress, IdleTimer, writeAll } from "./_io.ts";
import { connect } from "./client/connect.ts";
import { withContext } from "./_errors.ts";
import { formatMs } from "./_time.ts";
import {
  checkSendMessageOptions,
  CLIENT_DEFAULTS,
  DEFAULT_MESSAGE,
  type ReplySink,
  type SendMessageOptions,
} from "./client/options.ts";

export { CLIENT_DEFAULTS, DEFAULT_MESSAGE, type ReplySink, type SendMessageOptions };

/** What {@linkcode sendMessage} resolves to. */
export interface SendMessageResult {
  /** The reply's bytes (empty when `output` was given). */
  reply: Uint8Array;
  /** Bytes sent. */
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

/**
 * How an exchange ends, beyond its options: what sets an interactive session
 * (`lib/client/session.ts`) apart from one message and its reply.
 */
export interface ExchangePolicy {
  /**
   * End as soon as the server closes its side, leaving the rest of the input
   * unsent, as a session does. One exchange instead finishes sending what
   * it has of its message (the server may have closed only its sending
   * side, as `nc -N` does), and fails if the server does not take all of
   * it, or if more of a streamed message comes after the server closed.
   */
  endWithServer?: boolean;
  /** Called once the connection is open, with both ends' addresses. */
  onConnect?: (addresses: { localAddress: string; remoteAddress: string }) => void;
}

/**
 * Sends the message, then half-closes. Returns a way to stop reading a
 * message stream once the exchange is over, so that a pipe that never ends
 * cannot keep the exchange alive. `done` rejects only when a write fails:
 * the peer has the whole message once the last write is accepted, so a
 * half-close the peer has made moot is no failure.
 */
function sendAll(
  conn: Deno.Conn,
  message: Uint8Array | AsyncIterable<Uint8Array>,
  halfClose: boolean,
  hooks: {
    onProgress: (count: number) => void;
    waitingForInput: (waiting: boolean) => void;
    /** The message stream failed: not the server's doing, and no reason to wait on it. */
    onInputError: (error: unknown) => void;
    /** Whether the server has closed: input that comes after that can only be cut off. */
    serverClosed?: () => boolean;
  },
): { done: Promise<void>; cancel(): void } {
  const { onProgress, waitingForInput, onInputError } = hooks;
  const finish = () => halfClose ? conn.closeWrite().catch(() => {}) : Promise.resolve();
  if (message instanceof Uint8Array) {
    const done = writeAll(conn, message, onProgress).then(finish);
    return { done, cancel() {} };
  }
  const chunks = message[Symbol.asyncIterator]();
  const pump = async () => {
    while (true) {
      waitingForInput(true);
      let next: IteratorResult<Uint8Array>;
      try {
        next = await chunks.next();
      } catch (error) {
        return onInputError(error);
      }
      waitingForInput(false);
      const { value, done } = next;
      if (done) break;
      // Written now, it would be taken by the kernel and dropped by a peer
      // that has gone: on loopback, and on any network before its reset.
      if (hooks.serverClosed?.()) {
        throw new Deno.errors.BrokenPipe("More of it came after the server closed");
      }
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
 * refused`. A server that closes before it has taken the whole message
 * rejects too (`Deno.errors.BrokenPipe` or `ConnectionReset`), even when it
 * replied. A reply over `maxReplyBytes` rejects with a `RangeError`; an
 * invalid option throws a `TypeError` or `RangeError` before connecting.
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
export function sendMessage(options: SendMessageOptions = {}): Promise<SendMessageResult> {
  return exchange(options);
}

/** {@linkcode sendMessage}, with the ways a session differs; see {@linkcode ExchangePolicy}. */
export async function exchange(
  options: SendMessageOptions,
  policy: ExchangePolicy = {},
): Promise<SendMessageResult> {
  checkSendMessageOptions(options);
  const {
    hostname = CLIENT_DEFAULTS.hostname,
    port = CLIENT_DEFAULTS.port,
    message = CLIENT_DEFAULTS.message,
    halfClose = true,
    connectTimeout = CLIENT_DEFAULTS.connectTimeout,
    replyTimeout = CLIENT_DEFAULTS.replyTimeout,
    timeoutIncludesInput = true,
    maxReplyBytes = CLIENT_DEFAULTS.maxReplyBytes,
    output,
    path,
    tls,
    signal,
  } = options;
  const { endWithServer = false, onConnect } = policy;
  signal?.throwIfAborted();
  const startedAt = performance.now();
  const conn = await connect({ hostname, port, path, tls, connectTimeout, signal });
  // The signal may have aborted just as the connection opened.
  if (signal?.aborted) {
    closeQuietly(conn);
    throw signal.reason;
  }
  const connectMs = performance.now() - startedAt;
  const remoteAddress = formatAddress(conn.remoteAddr, path);
  const localAddress = formatAddress(conn.localAddr, path);
  onConnect?.({ localAddress, remoteAddress });
  let failure: Error | undefined;
  let failed!: () => void;
  const failedSignal = new Promise<void>((resolve) => failed = resolve);
  const fail = (error: Error) => {
    failure ??= error;
    closeQuietly(conn);
    failed();
  };
  let serverClosed = false;
  const idle = new IdleTimer(
    replyTimeout,
    () =>
      fail(
        new Deno.errors.TimedOut(
          serverClosed
            ? `Gave up on "${remoteAddress}": it closed its side, and the rest of the message ` +
              `did not come within ${formatMs(replyTimeout)}`
            : `Gave up on "${remoteAddress}": nothing moved for ${formatMs(replyTimeout)}`,
        ),
      ),
  );
  const onAbort = () => fail(signal!.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  let bytesSent = 0;
  let waiting = false;
  const encoded = typeof message === "string" ? new TextEncoder().encode(message) : message;
  const sending = sendAll(
    conn,
    encoded,
    halfClose,
    {
      onProgress: (count) => {
        bytesSent += count;
        idle.touch();
      },
      waitingForInput: (waitingForInput) => {
        waiting = waitingForInput;
        // Input that pauses is not the server's silence, until the server has
        // closed its side and only the rest of the message is awaited.
        if (timeoutIncludesInput || serverClosed) return;
        if (waitingForInput) idle.pause();
        else idle.resume();
      },
      onInputError: (error) => fail(withContext(error, "Cannot read the message")),
      // Only once some of the message went: a server that closes before any
      // of it either refused us (--allow: no reply) or half-closed after a
      // greeting and still reads (nc -N with its reply queued).
      serverClosed: () => serverClosed && bytesSent > 0,
    },
  );
  // Settled below; until then, a failed send must not count as unhandled.
  let sendError: unknown;
  const sent = sending.done.then(() => true, (error) => {
    sendError = error;
    return false;
  });

  const writer = output instanceof WritableStream ? output.getWriter() : output;
  const chunks: Uint8Array[] = [];
  let bytesReceived = 0;
  let firstByteMs: number | null = null;
  // An error already phrased for the user, passed on as it is.
  let phrased: Error | undefined;
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
      if (writer) {
        try {
          await writer.write(kept);
        } catch (error) {
          // Where the reply goes failed (stdout piped into `head`), not the connection.
          throw phrased = withContext(error, "Cannot write the reply");
        }
      } else chunks.push(kept.slice());
      if (count > room) {
        throw new RangeError(
          `Reply from "${remoteAddress}" is over the limit of ${maxReplyBytes} bytes`,
        );
      }
    }
    serverClosed = true;
    if (waiting) idle.resume();
    // The server may stop sending before it stops reading (a half-close, as
    // nc -N does): finish sending the message, under the same timeout. A
    // session ends here instead: the server has closed the conversation.
    if (!endWithServer && !(await Promise.race([sent, failedSignal.then(() => true)]))) {
      // The reply may be complete, but the server never had the whole
      // message: a 1 GiB upload cut at 200 MB is no success.
      const whole = encoded instanceof Uint8Array ? ` of ${encoded.length}` : "";
      throw phrased = withContext(
        sendError,
        `"${remoteAddress}" closed the connection before the whole message was sent ` +
          `(${bytesSent}${whole} bytes sent)`,
      );
    }
  } catch (error) {
    if (failure) throw failure;
    if (error instanceof RangeError || error === phrased) throw error;
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
    localAddress,
    remoteAddress,
  };
}
