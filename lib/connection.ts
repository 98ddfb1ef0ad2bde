/**
 * One connection's exchange: receive one message, send the reply, close.
 *
 * As in Python's `socketserver`, the handler is apart from the accept loop
 * and runs in three steps: setup (the first read), handle (answer), finish
 * (close, in `finally`, and report). Each accepted connection gets its own
 * {@linkcode Connection}, run without awaiting the others, so a client that
 * sends nothing, or one byte a second, only ever delays itself. Whatever
 * happens inside, the socket is closed and the outcome reported as one
 * `close` event; nothing thrown here reaches the accept loop.
 *
 * This runs once per connection, thousands of times a second, so it keeps
 * to what each exchange needs; the production concerns it calls live in
 * `server/`: the PROXY header, TLS, the first-read buffer pool, the fast
 * path, framed and keep-alive exchanges, the streamed echo, the lingering
 * close, and what is reported to observers. There is no timer per
 * connection: the server sweeps for idle and overdue ones.
 *
 * @module
 */

import type { CloseReason, MessageEnd, ServerEvent } from "./events.ts";
import { closeQuietly, formatAddress } from "./_io.ts";
import { isPeerGone } from "./_errors.ts";
import { escapeText } from "./log/escape.ts";
import type { ConnectionSettings } from "./server/_settings.ts";
import { readProxyHeader } from "./server/proxy_protocol.ts";
import { releaseBuffers, takeFirstReadBuffer } from "./server/_buffer_pool.ts";
import { answerFirstRead } from "./server/_fast_path.ts";
import { exchange } from "./server/_framed_exchange.ts";
import { streamEcho } from "./server/_stream_echo.ts";
import { linger } from "./server/_linger.ts";
import { reportClose } from "./server/_reports.ts";

/** How an exchange ended, and whether the client may have sent more than was read. */
export interface Outcome {
  end: MessageEnd;
  unreadInputLikely: boolean;
}

/** Who hears about a connection; all optional. */
export interface ConnectionObservers {
  /** Receives the message, reply and close events, if set. */
  emit?: (event: ServerEvent) => void;
  /**
   * Which of those `emit` receives; all three when not given. With
   * `closeDone` false, a close is reported only if it was not the normal end.
   */
  wants?: { message: boolean; reply: boolean; close: boolean; closeDone?: boolean };
  /** Called once, when the connection has closed. */
  onClosed?: (connection: Connection, reason: CloseReason) => void;
  /** Called when the PROXY header names a client the access rules refuse. */
  onRefused?: (peer: string, rule: string) => void;
}

const ALL_EVENTS = { message: true, reply: true, close: true };

/**
 * One accepted connection and its exchange. Its fields are read and written
 * by the accept loop (counters, deadlines) and by the `server/` modules.
 */
export class Connection {
  /** The socket; a TLS session over it once TLS has started. */
  conn: Deno.Conn;
  /** The connection's number within its server's run. */
  readonly id: number;
  /** What every connection of this server does. */
  readonly settings: ConnectionSettings;
  /** Bytes received, bytes sent, messages received so far. */
  bytesIn = 0;
  bytesOut = 0;
  messages = 0;
  /** Where the server's list of open connections holds this one; -1 when it does not. */
  slot = -1;
  /** When a byte last moved (`performance.now()`); the server's idle sweep reads it. */
  lastActivity = performance.now();
  /** When it was accepted (`performance.now()`). */
  readonly startedAt = this.lastActivity;
  /** When the message being received began, or -1 between messages; for the message deadline. */
  messageStartedAt = -1;
  /** The address the server counts this connection under for its per-peer cap. */
  peerKey: string | undefined;
  /** Whether the whole reply has been written and no new message has begun. */
  replied = false;
  /** Why it was closed from outside (`close()`), which wins over the error that causes. */
  closeReason: CloseReason | undefined;
  /** What the close event says for a deadline that cut a PROXY header or TLS handshake short. */
  closeNote: string | undefined;
  /** How long nothing had moved when an idle close was decided. */
  idleMs: number | undefined;
  /** The first read's buffer while it may go back to the pool; cleared once an observer holds it. */
  firstReadBuffer: Uint8Array | undefined;
  /** A large buffer of this connection's own, freed when done with unless an observer holds it. */
  ownBuffer: ArrayBuffer | undefined;
  /** Where its events go, and which of them are wanted; see `ConnectionObservers`. */
  readonly emit: ((event: ServerEvent) => void) | undefined;
  readonly wants: NonNullable<ConnectionObservers["wants"]>;
  readonly onRefused: ((peer: string, rule: string) => void) | undefined;
  #onClosed: ((connection: Connection, reason: CloseReason) => void) | undefined;
  #peer: string | undefined;
  /** Closing twice throws `BadResource`, and building that error costs more than the exchange. */
  #closed = false;

  constructor(
    conn: Deno.Conn,
    id: number,
    settings: ConnectionSettings,
    observers: ConnectionObservers = {},
  ) {
    this.conn = conn;
    this.id = id;
    this.settings = settings;
    this.emit = observers.emit;
    this.wants = observers.wants ?? ALL_EVENTS;
    this.#onClosed = observers.onClosed;
    this.onRefused = observers.onRefused;
  }

  /** Counts bytes read, and starts the message's clock at its first byte. */
  onRead = (count: number): void => {
    this.bytesIn += count;
    this.replied = false; // a new message has begun
    this.lastActivity = performance.now();
    if (this.messageStartedAt < 0) this.messageStartedAt = this.lastActivity;
  };

  /** Counts bytes written. */
  onWrite = (count: number): void => {
    this.bytesOut += count;
    this.lastActivity = performance.now();
  };

  /** Runs the exchange to the end; resolves to why it closed. Never rejects. */
  async run(): Promise<CloseReason> {
    let reason: CloseReason = "done";
    let errorText: string | undefined;
    try {
      // Setup. The first read happens here, in this frame, before any
      // framing logic, so that an idle connection waits in this one
      // function: each suspended async call holds memory, and ten thousand
      // idle clients multiply it.
      let first: Uint8Array;
      let count: number | null;
      let rest: Uint8Array | undefined;
      if (this.settings.proxyProtocol) {
        const header = await readProxyHeader(this);
        if (typeof header === "string") return this.#finish(header, undefined);
        rest = header;
      }
      if (this.settings.tls) {
        // TLS starts after the clear-text PROXY header, with what followed it.
        this.conn = (await this.settings.tls)(this.conn, rest);
        rest = undefined;
      }
      if (rest !== undefined) {
        // Bytes read past the header begin the message; never more of them
        // than a message may hold.
        first = rest.subarray(0, Math.min(rest.length, this.settings.maxMessageBytes));
        count = first.length;
      } else {
        first = this.firstReadBuffer = takeFirstReadBuffer(this.settings.maxMessageBytes);
        count = await this.conn.read(first);
        if (count !== null) this.onRead(count);
        // A TLS peer that leaves before its first byte, like a health check,
        // has nothing to be answered: its handshake may never have happened.
        else if (this.settings.tls) return this.#finish("done", undefined);
      }
      // Handle: the first read may be the whole message (the lab's case).
      const begun = first.subarray(0, count ?? 0);
      const { framing, echo } = this.settings;
      const { end, unreadInputLikely } = count === null || (framing === "chunk" && begun.length > 0)
        ? await answerFirstRead(this, begun, count === null)
        : echo && framing === "eof"
        ? await streamEcho(this, begun)
        : await exchange(this, begun);
      if (end === "limit") reason = "limit";
      if (unreadInputLikely) await linger(this);
    } catch (error) {
      if (this.closeReason === undefined) {
        reason = isPeerGone(error) ? "reset" : "error";
        errorText = error instanceof Error ? error.message : String(error);
      }
    } finally {
      // Finish: whatever happened, the socket is closed.
      this.closeSocket();
    }
    return this.#finish(reason, errorText);
  }

  /**
   * Closes the socket now, recording why: a pending read or write then
   * fails, and `run()` reports this reason rather than that error. Once the
   * reply is out, the exchange counts as done whatever closes it (but an
   * idle keep-alive connection as idle).
   */
  close(reason: CloseReason): void {
    const between = this.replied && !(reason === "idle" && this.settings.keepAlive);
    this.closeReason ??= between ? "done" : reason;
    if (reason === "idle") this.idleMs ??= performance.now() - this.lastActivity;
    if (reason === "idle" && (this.conn as { handshaking?: boolean }).handshaking) {
      this.closeNote ??= "no TLS handshake within the idle timeout";
    }
    this.closeSocket();
  }

  /** Closes the socket, once. */
  closeSocket(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.conn);
  }

  /**
   * The peer's address as `host:port`, worked out when first asked for, or
   * the client's address from a PROXY header. A Unix peer is usually
   * unnamed (only a client that binds its socket has a path): it is then
   * `unnamed peer on unix:PATH`, PATH being the server's socket. A path the
   * peer chose is its own text, so it is escaped.
   */
  get peer(): string {
    if (this.#peer !== undefined) return this.#peer;
    const remote = this.conn.remoteAddr;
    if (remote.transport === "tcp") return this.#peer = formatAddress(remote);
    const local = this.conn.localAddr as Deno.UnixAddr;
    return this.#peer = (remote as Deno.UnixAddr).path
      ? `unix:${escapeText((remote as Deno.UnixAddr).path!)}`
      : `unnamed peer on unix:${escapeText(local.path ?? "")}`;
  }

  set peer(peer: string) {
    this.#peer = peer;
  }

  /** Reports the close, once, and resolves why it closed. */
  #finish(reason: CloseReason, errorText: string | undefined): CloseReason {
    this.closeSocket();
    releaseBuffers(this); // every read is over
    const finalReason = this.closeReason ?? reason;
    reportClose(this, finalReason, errorText);
    this.#onClosed?.(this, finalReason);
    return finalReason;
  }
}
