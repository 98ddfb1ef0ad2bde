/**
 * The server side of TLS, over a TCP connection the server already holds.
 *
 * `Deno.listenTls` cannot be used: its connections start their handshake in
 * a task of the runtime that owns the socket until the peer sends or closes.
 * Closing such a connection from JavaScript (at the idle timeout, at
 * shutdown) only drops the handle; a client that connects and sends nothing
 * keeps its descriptor open for ever and never sees a FIN, and a few hundred
 * of them lock every real client out. And `Deno.startTls` is client-only, so
 * a clear-text PROXY header cannot be read before the handshake.
 *
 * So the server listens with `Deno.listen`, keeps each socket, and runs
 * `node:tls` over it: closing the socket really closes it, handshake or not,
 * and whatever came before the handshake (a PROXY header) is read in clear.
 * This module loads `node:tls`, so it is imported only when TLS is on.
 *
 * @module
 */

import { createSecureContext, type SecureContext, TLSSocket } from "node:tls";
import { Duplex } from "node:stream";
import { callAfter, closeQuietly, writeAll } from "../_io.ts";

/** What `Connection` uses of a connection, which a TLS session over a socket provides. */
export type TlsWrap = (conn: Deno.Conn, start?: Uint8Array) => Deno.Conn;

/**
 * Returns the function that starts the server side of TLS on a connection.
 * Deno's node:tls checks the certificate and key only at a handshake, so
 * `serve()` checks them first with `Deno.listenTls`.
 */
export function createTlsWrap(cert: string, key: string): TlsWrap {
  const secureContext = createSecureContext({ cert, key });
  // Only what `Connection` uses is implemented: read, write, closeWrite,
  // close and the addresses.
  return (conn, start) => new TlsServerConn(conn, secureContext, start) as unknown as Deno.Conn;
}

/** How long a close waits for close_notify to go out to a peer that does not read. */
const CLOSE_NOTIFY_MS = 500;

/** How far the plaintext written may run ahead of what the socket has sent. */
const MAX_UNSENT_BYTES = 64 * 1024;
/** How much decrypted data may wait unread before the socket is read no more. */
const MAX_UNREAD_BYTES = 64 * 1024;

/** Reads go through one buffer per connection; node copies what it keeps. */
const RAW_READ_BYTES = 16 * 1024;

/** The socket as a node stream, for `TLSSocket` to run over. */
function socketStream(
  conn: Deno.Conn,
  start: Uint8Array | undefined,
  onWrite: (count: number) => void,
  whenReadable: (read: () => void) => void,
): Duplex {
  const buffer = new Uint8Array(RAW_READ_BYTES);
  const stream = new Duplex({
    allowHalfOpen: true,
    read() {
      // node:tls reads on whether or not its own reader is paused: the
      // connection decides when the socket is read (see `#releaseRaw`).
      whenReadable(() =>
        conn.read(buffer).then(
          (count) => this.push(count === null ? null : buffer.slice(0, count)),
          (error) => this.destroy(error),
        )
      );
    },
    write(chunk: Uint8Array, _encoding, done) {
      writeAll(conn, chunk, onWrite).then(() => done(), done);
    },
    final(done) {
      conn.closeWrite().then(() => done(), () => done());
    },
    destroy(error, done) {
      closeQuietly(conn);
      done(error);
    },
  });
  // Bytes read before the handshake began (after a PROXY header) are its start.
  if (start !== undefined && start.length > 0) stream.unshift(start);
  return stream;
}

/** Node's error codes for a peer that reset or left, as the Deno errors `Connection` checks for. */
function asDenoError(error: Error & { code?: string }): Error {
  if (error instanceof Deno.errors.ConnectionReset || !error.code) return error;
  switch (error.code) {
    case "ECONNRESET":
      return new Deno.errors.ConnectionReset(error.message);
    case "EPIPE":
    case "ERR_STREAM_DESTROYED":
    case "ERR_STREAM_WRITE_AFTER_END":
      return new Deno.errors.BrokenPipe(error.message);
    default:
      return error;
  }
}

/** A TLS session on an accepted socket, read and written as a `Deno.Conn` is. */
class TlsServerConn {
  readonly remoteAddr: Deno.Addr;
  readonly localAddr: Deno.Addr;
  #raw: Deno.Conn;
  #socket: TLSSocket;
  /** Plaintext bytes node:tls has taken, and bytes the socket has sent. */
  #taken = 0;
  #sent = 0;
  #wakeWriter: (() => void) | undefined;
  /** The socket's next read, held until the server asks for data (see `#releaseRaw`). */
  #readRaw: (() => void) | undefined;
  #chunks: Uint8Array[] = [];
  #offset = 0;
  #ended = false;
  #closed = false;
  /** Whether the handshake has completed. */
  #secure = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;

  constructor(raw: Deno.Conn, secureContext: SecureContext, start?: Uint8Array) {
    this.#raw = raw;
    this.remoteAddr = raw.remoteAddr;
    this.localAddr = raw.localAddr;
    const stream = socketStream(raw, start, (count) => {
      this.#sent += count;
      this.#notifyWriter();
    }, (read) => {
      this.#readRaw = read;
      this.#releaseRaw();
    });
    stream.on("error", () => {}); // reported through the TLS socket
    // The TLS socket is half-open when its stream is: a client that
    // half-closes after its message must still get the reply, as over TCP.
    const socket = new TLSSocket(stream, { isServer: true, secureContext });
    this.#socket = socket;
    socket.on("secure", () => this.#secure = true);
    socket.on("data", (chunk: Uint8Array) => {
      this.#chunks.push(chunk);
      socket.pause(); // until `read()` has taken it: back-pressure to the peer
      this.#notify();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.on("error", (error: Error) => {
      this.#error ??= asDenoError(error);
      this.#notify();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#notify();
    });
    socket.pause();
  }

  /** Whether the TLS handshake is still to finish: a deadline then cuts it short. */
  get handshaking(): boolean {
    return !this.#secure && !this.#closed;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
    this.#notifyWriter();
  }

  #notifyWriter(): void {
    const wake = this.#wakeWriter;
    this.#wakeWriter = undefined;
    wake?.();
  }

  async read(p: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#closed) throw new Deno.errors.BadResource("The connection was closed");
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      const woken = new Promise<void>((resolve) => this.#wake = resolve);
      this.#socket.resume();
      this.#releaseRaw();
      await woken;
    }
    const chunk = this.#chunks[0];
    const count = Math.min(p.length, chunk.length - this.#offset);
    p.set(chunk.subarray(this.#offset, this.#offset + count));
    this.#offset += count;
    if (this.#offset === chunk.length) {
      this.#chunks.shift();
      this.#offset = 0;
    }
    return count;
  }

  /**
   * Lets the socket be read: always during the handshake, and after it
   * only while a `read()` waits and little decrypted data is unread, as a
   * `Deno.Conn` reads only when asked. node:tls would otherwise read on
   * and queue without bound while the server is busy writing to a client
   * that sends and never reads.
   */
  #releaseRaw(): void {
    const read = this.#readRaw;
    if (read === undefined) return;
    if (this.#secure && (this.#wake === undefined || this.#unread() >= MAX_UNREAD_BYTES)) return;
    this.#readRaw = undefined;
    read();
  }

  /** Decrypted bytes not yet read: ours, and those node:tls holds. */
  #unread(): number {
    let bytes = this.#socket?.readableLength ?? 0;
    for (const chunk of this.#chunks) bytes += chunk.length;
    return bytes - this.#offset;
  }

  /**
   * Resolves once node has taken `p`. A write the peer never reads settles
   * too, when the socket closes: a deadline must be able to end it.
   */
  async write(p: Uint8Array): Promise<number> {
    if (this.#closed) throw new Deno.errors.BadResource("The connection was closed");
    await new Promise<void>((resolve, reject) => {
      const onClose = () => reject(new Deno.errors.BrokenPipe("The connection was closed"));
      this.#socket.once("close", onClose);
      this.#socket.write(p, (error?: Error | null) => {
        this.#socket.off("close", onClose);
        if (error) reject(asDenoError(error));
        else resolve();
      });
    });
    // node:tls takes plaintext at once, whether the socket can send it or
    // not: wait until the socket has caught up, or a peer that does not read
    // would have the server queue without bound.
    this.#taken += p.length;
    while (this.#taken - this.#sent > MAX_UNSENT_BYTES) {
      if (this.#closed || this.#socket.destroyed) {
        throw new Deno.errors.BrokenPipe("The connection was closed");
      }
      await new Promise<void>((resolve) => this.#wakeWriter = resolve);
    }
    return p.length;
  }

  /** Sends close_notify, then FIN; settles when sent, or when the socket closes. */
  closeWrite(): Promise<void> {
    if (this.#socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.#socket.off("close", done);
        resolve();
      };
      this.#socket.once("close", done);
      this.#socket.end(done);
    });
  }

  /**
   * Closes the connection. After a handshake, close_notify goes first (a
   * client may otherwise take the reply for a truncated one), and the socket
   * is closed once it is sent, within `CLOSE_NOTIFY_MS` at most; before one,
   * at once. Either way the socket really closes: the peer sees FIN (or RST).
   */
  close(): void {
    if (this.#closed) throw new Deno.errors.BadResource("The connection was already closed");
    this.#closed = true;
    this.#notify();
    const destroy = () => {
      this.#socket.destroy();
      closeQuietly(this.#raw);
    };
    if (!this.#secure || this.#socket.destroyed || this.#socket.writableEnded) return destroy();
    const cancel = callAfter(CLOSE_NOTIFY_MS, destroy);
    this.#socket.end(() => {
      cancel();
      destroy();
    });
  }
}
