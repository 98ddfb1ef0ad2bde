/**
 * The per-connection handler: receive one message, send the reply, close.
 *
 * Each accepted connection gets its own {@linkcode Connection}, run without
 * awaiting the others, so a client that sends nothing, or one byte a second,
 * only ever delays itself. Whatever happens inside, the socket is closed in
 * `finally` and the outcome is reported as one `close` event; nothing thrown
 * here reaches the accept loop.
 *
 * This runs once per connection, thousands of times a second, so it keeps
 * to what each exchange needs: a 1 KiB first read, no timer of its own (the
 * server sweeps for idle connections), events built only when someone
 * listens, and the lingering close only when unread input may remain.
 *
 * @module
 */

import type { CloseEvent, CloseReason, MessageEnd, ServerEvent } from "./events.ts";
import {
  FIRST_READ_BYTES,
  type Framing,
  freeBuffer,
  READ_CHUNK_BYTES,
  readMessage,
  type ReceivedMessage,
} from "./framing.ts";
import type { AccessPolicy } from "./access.ts";
import type { TlsWrap } from "./_tls_server.ts";
import { parseProxyHeader, PROXY_HEADER_MAX_BYTES, PROXY_V1_MAX_BYTES } from "./proxy_protocol.ts";
import { closeQuietly, formatAddress, writeAll } from "./_io.ts";
import { escapeText } from "./escape.ts";

/** What every connection of one server does; resolved from `ServeOptions`. */
export interface ConnectionSettings {
  /** Where a message ends. */
  framing: Framing;
  /** The fixed reply, sent unless `echo` is set; with `keepAlive` it ends with a newline. */
  reply: Uint8Array;
  /** Send the message back instead of `reply`. */
  echo: boolean;
  /** The largest message in bytes. */
  maxMessageBytes: number;
  /** The most bytes of a message its event carries, copied; `Infinity` hands over the message itself. */
  previewBytes?: number;
  /** After replying, how long to wait for the client to close first. */
  lingerMs: number;
  /** With line framing: answer line after line on one connection. */
  keepAlive: boolean;
  /** Expect a PROXY protocol header first, and take the peer's address from it. */
  proxyProtocol: boolean;
  /** Who may connect, checked against the header's address with `proxyProtocol`. */
  access?: AccessPolicy;
  /** Run TLS over each connection, after its PROXY header if there is one. */
  tls?: Promise<TlsWrap>;
}

/**
 * After the reply, what the lingering close reads and discards at most.
 * Closing a socket with unread input makes the kernel send a reset instead of
 * a FIN, and a reset can destroy the reply before the client has read it.
 */
const LINGER_MAX_BYTES = 256 * 1024;

/** Lingering discards what it reads, so every connection can share one buffer. */
const discardBuffer = new Uint8Array(READ_CHUNK_BYTES);

/**
 * First-read buffers of finished connections, for new ones to reuse:
 * allocating and collecting a buffer per connection cost about 2 µs of a
 * 45 µs exchange under load. A buffer goes back only if no observer holds a
 * view of it, and the pool holds at most 1 MiB.
 */
const spareFirstReadBuffers: Uint8Array[] = [];
const SPARE_BUFFERS_MAX = 1024;

/** Whether an I/O error means the peer reset or left, rather than a local fault. */
export function isPeerGone(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.NotConnected;
}

/** How a Unix socket's peer is named in events; see `Connection.peer`. */
function unixPeer(remote: Deno.UnixAddr, local: Deno.UnixAddr): string {
  return remote.path
    ? `unix:${escapeText(remote.path)}`
    : `unnamed peer on unix:${escapeText(local.path ?? "")}`;
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

/** One accepted connection and its exchange. */
export class Connection {
  /** The connection's number within its server's run. */
  readonly id: number;
  /** Bytes received so far. */
  bytesIn = 0;
  /** Bytes sent so far. */
  bytesOut = 0;
  /** Messages received so far. */
  messages = 0;
  /** Where the server's list of open connections holds this one; -1 when it does not. */
  slot = -1;
  /** When a byte last moved (`performance.now()`); the server's idle sweep reads it. */
  lastActivity = performance.now();
  /**
   * When the message being received began (`performance.now()` of its first
   * byte), or -1 between messages; the server's sweep reads it for the
   * message deadline. Cleared once the message's reply has been sent.
   */
  messageStartedAt = -1;
  /** The address the server counts this connection under for its per-peer cap. */
  peerKey: string | undefined;

  #conn: Deno.Conn;
  #settings: ConnectionSettings;
  #emit: ((event: ServerEvent) => void) | undefined;
  #wants: NonNullable<ConnectionObservers["wants"]>;
  #onClosed: ((connection: Connection, reason: CloseReason) => void) | undefined;
  #onRefused: ((peer: string, rule: string) => void) | undefined;
  #peer: string | undefined;
  #closeReason: CloseReason | undefined;
  /** What the close event says for a deadline that cut a PROXY header or TLS handshake short. */
  #closeNote: string | undefined;
  /** How long nothing had moved when an idle close was decided. */
  #idleMs: number | undefined;
  #replied = false;
  /** Closing twice throws `BadResource`, and building that error costs more than the exchange. */
  #closed = false;
  /** The first read's buffer while it may go back to the spares; cleared once an observer holds a view of it. */
  #firstReadBuffer: Uint8Array | undefined;
  /**
   * A large buffer of this connection's own (a grown message, the streamed
   * echo's): released when done with, unless an observer holds a view of it.
   */
  #ownBuffer: ArrayBuffer | undefined;
  #startedAt = this.lastActivity;
  #onRead = (count: number) => {
    this.bytesIn += count;
    this.#replied = false; // a new message has begun
    this.lastActivity = performance.now();
    if (this.messageStartedAt < 0) this.messageStartedAt = this.lastActivity;
  };
  #onWrite = (count: number) => {
    this.bytesOut += count;
    this.lastActivity = performance.now();
  };

  constructor(
    conn: Deno.Conn,
    id: number,
    settings: ConnectionSettings,
    observers: ConnectionObservers = {},
  ) {
    this.#conn = conn;
    this.id = id;
    this.#settings = settings;
    this.#emit = observers.emit;
    this.#wants = observers.wants ?? ALL_EVENTS;
    this.#onClosed = observers.onClosed;
    this.#onRefused = observers.onRefused;
  }

  /**
   * The peer's address as `host:port`, worked out when first asked for. A
   * Unix peer is usually unnamed (only a client that binds its socket has a
   * path): it is then `unnamed peer on unix:PATH`, PATH being the server's
   * socket. A path the peer chose is its own text, so it is escaped.
   */
  get peer(): string {
    return this.#peer ??= this.#conn.remoteAddr.transport === "tcp"
      ? formatAddress(this.#conn.remoteAddr)
      : unixPeer(this.#conn.remoteAddr as Deno.UnixAddr, this.#conn.localAddr as Deno.UnixAddr);
  }

  /** Whether the whole reply has been written and no new message has begun. */
  get replied(): boolean {
    return this.#replied;
  }

  /**
   * Closes the socket now, recording why. A pending read or write then fails,
   * and `run()` reports this reason rather than the error that causes. Once the
   * reply is out, the exchange counts as done whatever closes it (but an idle
   * keep-alive connection as idle).
   */
  close(reason: CloseReason): void {
    // A connection between messages has had every reply: closing it is the
    // normal end, except that an idle keep-alive client did time out.
    const between = this.#replied && !(reason === "idle" && this.#settings.keepAlive);
    this.#closeReason ??= between ? "done" : reason;
    if (reason === "idle") this.#idleMs ??= performance.now() - this.lastActivity;
    if (reason === "idle" && (this.#conn as { handshaking?: boolean }).handshaking) {
      this.#closeNote ??= "no TLS handshake within the idle timeout";
    }
    this.#closeSocket();
  }

  #closeSocket(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.#conn);
  }

  /** Runs the exchange to the end; resolves to why it closed. Never rejects. */
  async run(): Promise<CloseReason> {
    let reason: CloseReason = "done";
    let errorText: string | undefined;
    try {
      // The first read happens here, before any framing logic, so that an
      // idle connection waits in this one function: each suspended async
      // call holds memory, and ten thousand idle clients multiply it.
      let first: Uint8Array;
      let count: number | null;
      let rest: Uint8Array | undefined;
      if (this.#settings.proxyProtocol) {
        const header = await this.#readProxyHeader();
        if (typeof header === "string") return this.#finish(header, undefined);
        rest = header;
      }
      if (this.#settings.tls) {
        // TLS starts after the clear-text PROXY header, with what followed it.
        this.#conn = (await this.#settings.tls)(this.#conn, rest);
        rest = undefined;
      }
      if (rest !== undefined) {
        // Bytes read past the header begin the message; never more of them
        // than a message may hold.
        first = rest.subarray(0, Math.min(rest.length, this.#settings.maxMessageBytes));
        count = first.length;
      } else {
        const { maxMessageBytes } = this.#settings;
        const size = Math.max(1, Math.min(maxMessageBytes, FIRST_READ_BYTES));
        first = (size === FIRST_READ_BYTES && spareFirstReadBuffers.pop()) ||
          new Uint8Array(size);
        this.#firstReadBuffer = first;
        count = await this.#conn.read(first);
        if (count !== null) this.#onRead(count);
        // A TLS peer that leaves before its first byte, like a health check,
        // has nothing to be answered: its handshake may never have happened.
        else if (this.#settings.tls) return this.#finish("done", undefined);
      }
      const begun = first.subarray(0, count ?? 0);
      const { framing, echo } = this.#settings;
      const { end, unreadInputLikely } = count === null || (framing === "chunk" && begun.length > 0)
        ? await this.#answerOnly(begun, count === null)
        : echo && framing === "eof"
        ? await this.#streamEcho(begun)
        : await this.#exchange(begun);
      if (end === "limit") reason = "limit";
      if (unreadInputLikely) await this.#linger();
    } catch (error) {
      if (this.#closeReason === undefined) {
        reason = isPeerGone(error) ? "reset" : "error";
        errorText = error instanceof Error ? error.message : String(error);
      }
    } finally {
      this.#closeSocket();
    }
    return this.#finish(reason, errorText);
  }

  /** Reports the close, once, and resolves why it closed. */
  #finish(reason: CloseReason, errorText: string | undefined): CloseReason {
    this.#closeSocket();
    this.#releaseOwnBuffer();
    // Every read is over, and no observer holds a view of the buffer.
    const buffer = this.#firstReadBuffer;
    this.#firstReadBuffer = undefined;
    if (buffer?.length === FIRST_READ_BYTES && spareFirstReadBuffers.length < SPARE_BUFFERS_MAX) {
      spareFirstReadBuffers.push(buffer);
    }
    const finalReason = this.#closeReason ?? reason;
    if (
      this.#emit && this.#wants.close && (finalReason !== "done" || this.#wants.closeDone !== false)
    ) {
      const event: CloseEvent = {
        type: "close",
        time: Date.now(),
        id: this.id,
        peer: this.peer,
        reason: finalReason,
        messages: this.messages,
        bytesIn: this.bytesIn,
        bytesOut: this.bytesOut,
        durationMs: performance.now() - this.#startedAt,
      };
      if (finalReason === "idle" && this.#idleMs !== undefined) event.idleMs = this.#idleMs;
      if (errorText !== undefined) event.error = errorText;
      else if (this.#closeNote !== undefined) event.error = this.#closeNote;
      this.#emit(event);
    }
    this.#onClosed?.(this, finalReason);
    return finalReason;
  }

  /**
   * Reads the PROXY protocol header from the start of the stream, takes the
   * client's address from it and checks it against the access rules.
   * Resolves to the bytes read past the header, or to why the connection
   * ends here: `"refused"` by the rules, or `"done"` for a peer that closed
   * before its first byte, as a balancer's health check does. A missing or
   * malformed header throws.
   *
   * The header has its own buffer, bounded by `PROXY_HEADER_MAX_BYTES`, so
   * `maxMessageBytes` limits messages only. Its reads do not count as
   * activity: the whole header must come within the idle timeout, however
   * slowly a peer trickles it.
   */
  async #readProxyHeader(): Promise<Uint8Array | "refused" | "done"> {
    let buffer = new Uint8Array(PROXY_V1_MAX_BYTES);
    let length = 0;
    while (true) {
      const header = length === 0 ? "incomplete" : parseProxyHeader(buffer.subarray(0, length));
      if (header !== "incomplete") {
        // UNKNOWN, LOCAL and UNSPEC name no client: the spec says to use the
        // connection's own address, and the rules then apply to that.
        const source = header.source ?? this.#conn.remoteAddr as Deno.NetAddr;
        if (header.source) this.#peer = formatAddress(header.source);
        const rule = this.#settings.access?.refusal(source.hostname);
        if (rule !== undefined) {
          this.#onRefused?.(this.peer, rule);
          return "refused";
        }
        // What came after the header: the message's start, or the TLS handshake's.
        return buffer.slice(header.length, length);
      }
      // Read no further than the header can reach: a v2 header says its
      // length after 16 bytes; a v1 header ends within 107.
      const v2Length = length >= 16 && buffer[0] === 0x0d
        ? 16 + ((buffer[14] << 8) | buffer[15])
        : 0;
      const end = Math.min(Math.max(v2Length, PROXY_V1_MAX_BYTES), PROXY_HEADER_MAX_BYTES);
      if (end > buffer.length) {
        const grown = new Uint8Array(end);
        grown.set(buffer.subarray(0, length));
        buffer = grown;
      }
      if (length >= end) throw new TypeError("Missing or incomplete PROXY protocol header");
      let more: number | null;
      try {
        more = await this.#conn.read(buffer.subarray(length, end));
      } catch (error) {
        // "Idle" alone would be wrong for a peer that trickled bytes all along.
        if (this.#closeReason === "idle") {
          this.#closeNote = `no whole PROXY header within the idle timeout (${length} bytes)`;
        }
        throw error;
      }
      if (more === null) {
        if (length === 0) return "done"; // connected and closed: a health check
        throw new TypeError("The connection ended inside the PROXY header");
      }
      // Counted as read, but not as activity: a trickled header must not
      // keep renewing the idle timeout.
      const activity = this.lastActivity;
      this.#onRead(more);
      this.lastActivity = activity;
      length += more;
    }
  }

  /**
   * Answers a message that the first read completed: at EOF, or in the lab's
   * chunk framing. This is the common case, so it takes the fewest steps.
   */
  async #answerOnly(
    message: Uint8Array,
    atEof: boolean,
  ): Promise<{ end: MessageEnd; unreadInputLikely: boolean }> {
    const end: MessageEnd = atEof
      ? "eof"
      : message.length >= this.#settings.maxMessageBytes
      ? "limit"
      : "chunk";
    const answer = this.#settings.echo ? message : this.#settings.reply;
    // The reply is on its way before the message is reported, so whatever
    // an observer does with the report (a log line, say) delays no client.
    const writing = this.#conn.write(answer);
    this.#received(message, message.length, end);
    const written = await writing;
    this.#onWrite(written);
    if (written < answer.length) {
      await writeAll(this.#conn, answer.subarray(written), this.#onWrite);
    }
    this.#sent(answer.length);
    // A first read that filled its whole buffer may have left input unread.
    return {
      end,
      unreadInputLikely: end === "limit" || (end === "chunk" && message.length >= FIRST_READ_BYTES),
    };
  }

  /**
   * Reads one whole message, then sends the reply or the message back. With
   * `keepAlive`, goes on line after line until the client closes.
   */
  async #exchange(begun: Uint8Array): Promise<{ end: MessageEnd; unreadInputLikely: boolean }> {
    const { framing, maxMessageBytes, echo, keepAlive } = this.#settings;
    let start: Uint8Array | undefined = begun;
    for (let served = 0;; served++) {
      const message: ReceivedMessage = await readMessage(this.#conn, {
        framing,
        maxBytes: maxMessageBytes,
        onRead: this.#onRead,
        start,
      });
      if (message.data.buffer !== this.#firstReadBuffer?.buffer) {
        this.#ownBuffer = message.data.buffer as ArrayBuffer;
      }
      // A keep-alive client that closes between lines is simply done.
      if (served > 0 && message.end === "eof" && message.data.length === 0) {
        return { end: "eof", unreadInputLikely: false };
      }
      this.#received(message.data, message.data.length, message.end);
      const answer = echo ? message.data : this.#settings.reply;
      await writeAll(this.#conn, answer, this.#onWrite);
      this.#sent(answer.length);
      if (keepAlive && message.end === "newline") {
        this.#releaseOwnBuffer();
        start = message.leftover;
        // Bytes past the newline begin the next message, and its deadline.
        if (start && start.length > 0) this.messageStartedAt = performance.now();
        continue;
      }
      // Input may still be waiting when the message stopped at the limit,
      // when the first read filled its whole buffer, or when bytes came after
      // the newline. Otherwise the client has sent all it meant to.
      const unreadInputLikely = message.end === "limit" ||
        (message.end === "chunk" && message.data.length >= FIRST_READ_BYTES) ||
        (message.end === "newline" && (message.leftover?.length ?? 0) > 0);
      return { end: message.end, unreadInputLikely };
    }
  }

  /**
   * Echoes until the client half-closes, one reused buffer at a time, so a
   * stream of any size passes through without being held whole in memory.
   * The buffer is small until the first byte arrives: an idle client holds
   * no more than one waiting for its first message would.
   */
  async #streamEcho(begun: Uint8Array): Promise<{ end: MessageEnd; unreadInputLikely: boolean }> {
    const { maxMessageBytes } = this.#settings;
    // The first chunk goes back before reading more, in a buffer big enough to flow.
    await writeAll(this.#conn, begun, this.#onWrite);
    const firstChunk = begun.slice();
    let total = begun.length;
    const buffer = new Uint8Array(Math.min(maxMessageBytes, READ_CHUNK_BYTES));
    this.#ownBuffer = buffer.buffer;
    let end: MessageEnd = "eof";
    while (true) {
      const room = Math.min(buffer.length, maxMessageBytes - total);
      if (room <= 0) {
        end = "limit";
        break;
      }
      const count = await this.#conn.read(buffer.subarray(0, room));
      if (count === null) break;
      this.#onRead(count);
      total += count;
      await writeAll(this.#conn, buffer.subarray(0, count), this.#onWrite);
    }
    this.#received(firstChunk, total, end);
    this.#sent(total);
    return { end, unreadInputLikely: end === "limit" };
  }

  /**
   * Sends FIN, then reads and discards until the client closes, for a short
   * while at most, so that closing never resets a reply still in flight.
   */
  async #linger(): Promise<void> {
    const timer = setTimeout(() => this.#closeSocket(), this.#settings.lingerMs);
    try {
      await this.#conn.closeWrite();
      let drained = 0;
      while (drained < LINGER_MAX_BYTES) {
        const count = await this.#conn.read(discardBuffer);
        if (count === null) break;
        drained += count;
        this.bytesIn += count;
      }
    } catch {
      // The reply is already written; a peer that resets or vanishes now, or
      // the linger timer closing the socket, changes nothing for it.
    } finally {
      clearTimeout(timer);
    }
  }

  #received(data: Uint8Array, bytes: number, end: MessageEnd): void {
    this.messages++;
    if (!this.#emit || !this.#wants.message) return;
    this.#emit({
      type: "message",
      time: Date.now(),
      id: this.id,
      peer: this.peer,
      data: this.#forObserver(data),
      bytes,
      end,
      sequence: this.messages,
    });
  }

  /**
   * The message's bytes for an observer, who may keep them. A view of the
   * first read's buffer is copied when small, which is cheap (V8 keeps
   * arrays of up to 64 bytes in its own heap), so the buffer can still be
   * reused; a larger one is handed over, and its buffer is not reused.
   */
  #forObserver(data: Uint8Array): Uint8Array {
    const { previewBytes = Infinity } = this.#settings;
    // A bounded preview is a copy: every buffer stays this connection's.
    if (previewBytes !== Infinity) return data.slice(0, previewBytes);
    if (data.buffer !== this.#firstReadBuffer?.buffer) {
      if (data.buffer === this.#ownBuffer) this.#ownBuffer = undefined;
      return data;
    }
    if (data.length <= 64) return data.slice();
    this.#firstReadBuffer = undefined;
    return data;
  }

  /**
   * Frees a large buffer's memory now. Left to the garbage collector, the
   * memory of connections that are gone can stay with the process for good:
   * an idle server allocates nothing, so nothing prompts a collection.
   */
  #releaseOwnBuffer(): void {
    const buffer = this.#ownBuffer;
    this.#ownBuffer = undefined;
    if (buffer) freeBuffer(buffer);
  }

  #sent(bytes: number): void {
    this.#replied = true;
    this.messageStartedAt = -1;
    if (this.#wants.reply) {
      this.#emit?.({ type: "reply", time: Date.now(), id: this.id, peer: this.peer, bytes });
    }
  }
}
