/**
 * The accept loop: listen, accept, hand each connection to its own handler.
 *
 * The lab's server handled one client at a time inside its accept loop, so
 * one slow client stalled everyone. Here the loop only accepts; each
 * connection runs on its own (see `connection.ts`), and the loop goes
 * straight back to accepting. Around that loop, each in `server/`: the
 * connection limit, back-off when accepting fails, access rules and the
 * per-peer cap, the deadline sweep, and `shutdown()`, which lets
 * connections in flight finish up to a deadline.
 *
 * @module
 */

import { Connection, type ConnectionObservers } from "./connection.ts";
import type { CloseReason, ServerEvent, ServerStats } from "./events.ts";
import type { ServeOptions } from "./serve_options.ts";
import { closeQuietly, formatAddress } from "./_io.ts";
import type { AccessPolicy } from "./server/access.ts";
import {
  type ConnectionSettings,
  resolveServeOptions,
  type ServerSettings,
} from "./server/_settings.ts";
import { AcceptBackoff, Pause } from "./server/_accept.ts";
import { OpenConnections } from "./server/_open_connections.ts";
import { admit, PeerLimit } from "./server/_admission.ts";
import { drain } from "./server/_drain.ts";
import { sweepDeadlines } from "./server/_deadlines.ts";
import { countClosed, zeroStats } from "./server/_stats.ts";

/**
 * A running server, returned by {@linkcode serve}.
 *
 * Await `finished`, call `shutdown()`, or let `await using` shut it down at
 * the end of a block.
 */
export interface TcpServer<A extends Deno.NetAddr | Deno.UnixAddr = Deno.NetAddr>
  extends AsyncDisposable {
  /**
   * The address it listens on, with the real port when `0` was asked for;
   * a `Deno.UnixAddr` when listening on a Unix socket.
   */
  readonly addr: A;
  /** Resolves once the server has stopped and every connection is closed. */
  readonly finished: Promise<void>;
  /** The counters so far, open connections included. */
  readonly stats: ServerStats;
  /**
   * Stops accepting, lets connections in flight finish until the drain
   * deadline, closes the rest, and resolves when everything is closed.
   * Calling it again returns the same promise.
   */
  shutdown(): Promise<void>;
}

/**
 * Starts a TCP server. With no options it is the lab's server: it listens on
 * `0.0.0.0:8080`, takes whatever each client's first read returns, answers
 * `Thanks for connecting` and closes.
 *
 * Throws at once if it cannot listen: `Deno.errors.AddrInUse` when the port
 * is taken, `Deno.errors.NotCapable` without `--allow-net` for the address,
 * `RangeError` or `TypeError` for invalid options.
 *
 * @example Serving on a free port, sending one message, stopping
 * ```ts
 * import { sendMessage, serve } from "./mod.ts";
 *
 * await using server = serve({ hostname: "127.0.0.1", port: 0 });
 * const result = await sendMessage({ port: server.addr.port });
 * console.log(new TextDecoder().decode(result.reply)); // Thanks for connecting
 * ```
 *
 * @param options How to listen, frame, answer and limit.
 * @returns The running server.
 */
export function serve(options: ServeOptions & { path: string }): TcpServer<Deno.UnixAddr>;
/** Starts a TCP server; see the overload above for the whole description. */
export function serve(options?: ServeOptions): TcpServer<Deno.NetAddr>;
export function serve(options: ServeOptions = {}): TcpServer<Deno.NetAddr | Deno.UnixAddr> {
  const settings = resolveServeOptions(options);
  const { hostname, port, backlog, path, tls, reusePort, signal } = settings.listen;
  // Deno.listenTls checks the certificate and key at once, as node:tls
  // does not: it is opened only for that, and closed.
  if (tls) closeQuietly(Deno.listenTls({ hostname, port, cert: tls.cert, key: tls.key }));
  // TLS runs over sockets the server keeps (see `server/_tls.ts`): with
  // Deno.listenTls, a connection whose handshake never starts cannot be
  // closed. node:tls is loaded only when TLS is on, while the server starts.
  const tlsWrap = tls
    ? import("./server/_tls.ts").then((module) => module.createTlsWrap(tls.cert, tls.key))
    : undefined;
  tlsWrap?.catch(() => {}); // each connection reports it; see `ServeOptions.tls`
  const listener = path !== undefined
    ? Deno.listen({ transport: "unix", path })
    : Deno.listen({ hostname, port, tcpBacklog: backlog, ...(reusePort ? { reusePort } : {}) });
  const server = new Server(listener, { ...settings.connection, tls: tlsWrap }, settings.server);
  signal?.addEventListener("abort", () => server.shutdown(), { once: true });
  return server;
}

/** The one implementation of {@linkcode TcpServer}; made by `serve()` only. */
class Server<A extends Deno.NetAddr | Deno.UnixAddr> implements TcpServer<A> {
  readonly addr: A;
  readonly finished: Promise<void>;
  #listener: Deno.Listener;
  #settings: ConnectionSettings;
  #limits: ServerSettings;
  #onEvent: ((event: ServerEvent) => void) | undefined;
  /** The kinds of event the observer asked for. */
  #wanted: ReadonlySet<ServerEvent["type"]>;
  #running = new OpenConnections<Connection>();
  #report = (event: ServerEvent): void => this.#emit(event);
  /** What the accept loop sleeps on when full or backing off; a closed connection wakes it. */
  #pause = new Pause();
  #backoff = new AcceptBackoff(this.#pause, this.#report, () => this.#stats.errors++);
  #perPeer: PeerLimit | undefined;
  /** The access rules, when they apply at accept: behind a balancer the header's address counts. */
  #checkAtAccept: AccessPolicy | undefined;
  #stopSweep: () => void;
  #nextId = 1;
  #startedAt = performance.now();
  #stats: Omit<ServerStats, "active" | "uptimeMs"> = zeroStats();
  #closing = false;
  #acceptLoop: Promise<void>;
  #shutdown: Promise<void> | undefined;
  /** What every connection reports to, made once; events are built only when someone listens. */
  #observers: ConnectionObservers;
  /** Set during shutdown: called when the last connection has closed. */
  #allClosed: (() => void) | undefined;
  #resolveFinished!: () => void;

  constructor(listener: Deno.Listener, settings: ConnectionSettings, limits: ServerSettings) {
    this.#listener = listener;
    this.addr = listener.addr as A;
    this.#settings = settings;
    this.#limits = limits;
    this.#onEvent = limits.onEvent;
    this.#wanted = new Set(limits.onEvent ? limits.events : []);
    if (limits.maxPerPeer > 0) this.#perPeer = new PeerLimit(limits.maxPerPeer);
    if (limits.access.active && !settings.proxyProtocol) this.#checkAtAccept = limits.access;
    this.#observers = this.#makeObservers();
    this.finished = new Promise((resolve) => this.#resolveFinished = resolve);
    this.#emit({ type: "listening", time: Date.now(), address: formatAddress(this.addr) });
    this.#acceptLoop = this.#accept();
    this.#stopSweep = sweepDeadlines(this.#running, limits.idleTimeoutMs, limits.messageTimeoutMs);
  }

  /**
   * The lab's `while True: accept()`. It never awaits a connection: each
   * runs on its own, and the loop goes back to accepting at once.
   */
  async #accept(): Promise<void> {
    while (!this.#closing) {
      if (this.#running.size >= this.#limits.maxConnections) {
        // Full: new clients wait in the kernel's backlog until a connection
        // ends (or shutdown starts) and wakes the loop.
        await this.#pause.sleep();
        continue;
      }
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closing) break; // the listener was closed by shutdown()
        await this.#backoff.failed(error); // reports it, waits, then tries again
        continue;
      }
      this.#backoff.succeeded();
      const peerKey = admit(conn, this.#checkAtAccept, this.#perPeer, this.#report);
      if (peerKey === false) continue; // refused: closed at once, unanswered
      this.#stats.connections++;
      const connection = new Connection(conn, this.#nextId++, this.#settings, this.#observers);
      connection.peerKey = peerKey;
      this.#running.add(connection);
      // run() starts the first read before the connection is reported, so
      // the report costs the client nothing; it never rejects, and reports
      // back through onClosed.
      connection.run();
      if (this.#wanted.has("connection")) {
        const { id, peer } = connection;
        this.#emit({ type: "connection", time: Date.now(), id, peer });
      }
    }
  }

  get stats(): ServerStats {
    const stats = { ...this.#stats };
    for (const connection of this.#running) {
      stats.messages += connection.messages;
      stats.bytesIn += connection.bytesIn;
      stats.bytesOut += connection.bytesOut;
    }
    return { ...stats, active: this.#running.size, uptimeMs: performance.now() - this.#startedAt };
  }

  shutdown(): Promise<void> {
    this.#shutdown ??= this.#stop();
    return this.#shutdown;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  /** Reports an event: counts what the counters need, and passes it on if asked for. */
  #emit(event: ServerEvent): void {
    if (event.type === "accept-error" && !event.peerGone) this.#stats.errors++;
    else if (event.type === "refused") this.#stats.refused++;
    else if (event.type === "peer-limit") this.#stats.overPeerLimit++;
    if (!this.#wanted.has(event.type)) return;
    try {
      this.#onEvent?.(event);
    } catch {
      // Documented: a failing observer must not take the server down.
    }
  }

  #makeObservers(): ConnectionObservers {
    const observers: ConnectionObservers = {
      emit: undefined,
      wants: undefined,
      /** Counts a finished connection in and frees its slot. */
      onClosed: (connection: Connection, reason: CloseReason) => {
        countClosed(this.#stats, connection, reason);
        if (connection.peerKey !== undefined) this.#perPeer!.release(connection.peerKey);
        this.#running.delete(connection);
        this.#pause.wake(); // a slot is free again
        if (this.#running.size === 0) this.#allClosed?.();
      },
      /** A client named in a PROXY header is refused by the access rules. */
      onRefused: (peer: string, rule: string) => {
        this.#emit({ type: "refused", time: Date.now(), peer, rule });
      },
    };
    const wants = {
      message: this.#wanted.has("message"),
      reply: this.#wanted.has("reply"),
      close: this.#wanted.has("close"),
      closeDone: this.#limits.closeEvents === "all",
    };
    if (wants.message || wants.reply || wants.close) {
      observers.emit = (event) => this.#emit(event);
      observers.wants = wants;
    }
    return observers;
  }

  async #stop(): Promise<void> {
    this.#closing = true;
    closeQuietly(this.#listener);
    this.#pause.wake();
    await this.#acceptLoop;
    await drain(
      this.#running,
      this.#limits.drainTimeoutMs,
      this.#report,
      () => new Promise((resolve) => this.#allClosed = resolve),
    );
    this.#stopSweep();
    this.#emit({ type: "summary", time: Date.now(), ...this.stats });
    this.#resolveFinished();
  }
}
