/**
 * The accept loop: listen, accept, hand each connection to its own handler.
 *
 * The lab server handled one client at a time inside its accept loop, so one
 * slow client stalled everyone. Here the loop only accepts; each connection
 * runs on its own (see `connection.ts`). The loop pauses at the connection
 * limit, backs off when accepting fails (file descriptors run out under load,
 * and a plain `for await` over a listener dies of that), and stops on
 * `shutdown()`, which lets connections in flight finish up to a deadline.
 *
 * @module
 */

import {
  Connection,
  type ConnectionObservers,
  type ConnectionSettings,
  isPeerGone,
} from "./connection.ts";
import {
  type CloseReason,
  SERVER_EVENT_TYPES,
  type ServerEvent,
  type ServerStats,
} from "./events.ts";
import { FRAMINGS } from "./framing.ts";
import { type AccessPolicy, createAccessPolicy } from "./server/access.ts";
import { closeQuietly, formatAddress } from "./_io.ts";
import { OpenConnections } from "./server/_open_connections.ts";
import {
  replyBytes,
  requireDuration,
  requireInteger,
  SERVE_DEFAULTS,
  type ServeOptions,
} from "./serve_options.ts";

/** Counters at zero: a new server's, or the start of a sum over several. */
export function zeroStats(): Omit<ServerStats, "uptimeMs"> {
  return {
    connections: 0,
    active: 0,
    messages: 0,
    bytesIn: 0,
    bytesOut: 0,
    errors: 0,
    idleTimeouts: 0,
    closedAtShutdown: 0,
    refused: 0,
    messageTimeouts: 0,
    overPeerLimit: 0,
  };
}

/** How long the accept loop waits after its first failure, doubling to the maximum. */
const ACCEPT_BACKOFF_MIN_MS = 10;
const ACCEPT_BACKOFF_MAX_MS = 1000;

/**
 * A running server, returned by {@linkcode serve}.
 *
 * Await `finished`, call `shutdown()`, or let `await using` shut it down at
 * the end of a block.
 */
export class TcpServer<A extends Deno.NetAddr | Deno.UnixAddr = Deno.NetAddr>
  implements AsyncDisposable {
  /**
   * The address it listens on, with the real port when `0` was asked for;
   * a `Deno.UnixAddr` when listening on a Unix socket.
   */
  readonly addr: A;
  /** Resolves once the server has stopped and every connection is closed. */
  readonly finished: Promise<void>;

  #listener: Deno.Listener;
  #settings: ConnectionSettings;
  #maxConnections: number;
  #drainTimeoutMs: number;
  #access: AccessPolicy;
  #onEvent: ((event: ServerEvent) => void) | undefined;
  /** The kinds of event the observer asked for. */
  #wanted: ReadonlySet<ServerEvent["type"]>;
  #running = new OpenConnections<Connection>();
  /** Set during shutdown: called when the last connection has closed. */
  #allClosed: (() => void) | undefined;
  #nextId = 1;
  #startedAt = performance.now();
  #stats: Omit<ServerStats, "active" | "uptimeMs"> = zeroStats();
  #idleTimeoutMs: number;
  #messageTimeoutMs: number;
  /** Open connections by address, kept only when there is a per-peer cap. */
  #perPeer: Map<string, number> | undefined;
  #maxPerPeer: number;
  #idleSweep: ReturnType<typeof setInterval> | undefined;
  #closing = false;
  #wake: (() => void) | undefined;
  #acceptLoop: Promise<void>;
  #shutdown: Promise<void> | undefined;
  #resolveFinished!: () => void;

  /** Use {@linkcode serve}; this takes a listener that is already open. */
  constructor(
    listener: Deno.Listener,
    settings: ConnectionSettings,
    limits: {
      maxConnections: number;
      drainTimeoutMs: number;
      idleTimeoutMs: number;
      messageTimeoutMs?: number;
      maxPerPeer?: number;
    },
    access: AccessPolicy,
    onEvent?: (event: ServerEvent) => void,
    events: readonly ServerEvent["type"][] = SERVER_EVENT_TYPES,
    closeEvents: "all" | "unusual" = "all",
  ) {
    this.#access = access;
    this.#idleTimeoutMs = limits.idleTimeoutMs > 0 ? limits.idleTimeoutMs : Infinity;
    this.#messageTimeoutMs = (limits.messageTimeoutMs ?? 0) > 0
      ? limits.messageTimeoutMs!
      : Infinity;
    this.#maxPerPeer = limits.maxPerPeer ?? 0;
    if (this.#maxPerPeer > 0) this.#perPeer = new Map();
    this.#listener = listener;
    this.addr = listener.addr as A;
    // In keep-alive mode the reply must end with a newline, however the
    // settings were made.
    this.#settings = { ...settings, reply: replyBytes(settings.reply, settings.keepAlive) };
    this.#maxConnections = limits.maxConnections;
    this.#drainTimeoutMs = limits.drainTimeoutMs;
    this.#onEvent = onEvent;
    this.#wanted = new Set(onEvent ? events : []);
    const wants = {
      message: this.#wanted.has("message"),
      reply: this.#wanted.has("reply"),
      close: this.#wanted.has("close"),
      closeDone: closeEvents === "all",
    };
    if (wants.message || wants.reply || wants.close) {
      this.#observers.emit = (event) => this.#emit(event);
      this.#observers.wants = wants;
    }
    this.finished = new Promise((resolve) => this.#resolveFinished = resolve);
    this.#emit({ type: "listening", time: Date.now(), address: formatAddress(this.addr) });
    this.#acceptLoop = this.#accept();
    const shortest = Math.min(this.#idleTimeoutMs, this.#messageTimeoutMs);
    if (Number.isFinite(shortest)) {
      // One sweep for all connections and both deadlines instead of a timer
      // each: arming and clearing a timer per connection costs more than the
      // exchange's logic.
      const period = Math.min(1000, Math.max(10, shortest / 4));
      this.#idleSweep = setInterval(() => this.#closeOverdue(), period);
    }
  }

  /** The counters so far, open connections included. */
  get stats(): ServerStats {
    const stats = { ...this.#stats };
    for (const connection of this.#running) {
      stats.messages += connection.messages;
      stats.bytesIn += connection.bytesIn;
      stats.bytesOut += connection.bytesOut;
    }
    return { ...stats, active: this.#running.size, uptimeMs: performance.now() - this.#startedAt };
  }

  /**
   * Stops accepting, lets connections in flight finish until the drain
   * deadline, closes the rest, and resolves when everything is closed.
   * Calling it again returns the same promise.
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= this.#stop();
    return this.#shutdown;
  }

  /** Shuts down; for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  #emit(event: ServerEvent): void {
    switch (event.type) {
      case "accept-error":
        if (!event.peerGone) this.#stats.errors++;
        break;
      case "refused":
        this.#stats.refused++;
        break;
    }
    if (!this.#wanted.has(event.type)) return;
    try {
      this.#onEvent?.(event);
    } catch {
      // Documented: a failing observer must not take the server down.
    }
  }

  /** Sleeps until `wakeUp()` or, if given, until `ms` have passed. */
  #sleep(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(() => this.#wakeUp(), ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #accept(): Promise<void> {
    let failures = 0;
    let backoffMs = 0;
    while (!this.#closing) {
      if (this.#running.size >= this.#maxConnections) {
        await this.#sleep(); // until a connection ends or shutdown starts
        continue;
      }
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closing) break; // the listener was closed by shutdown()
        const text = error instanceof Error ? error.message : String(error);
        if (isPeerGone(error)) {
          // A client reset while it waited in the backlog: its loss, not ours.
          this.#emit({
            type: "accept-error",
            time: Date.now(),
            error: text,
            peerGone: true,
            retryInMs: 0,
          });
          continue;
        }
        failures++;
        backoffMs = Math.min(Math.max(backoffMs * 2, ACCEPT_BACKOFF_MIN_MS), ACCEPT_BACKOFF_MAX_MS);
        // Report the first failure of a run only: the cause (usually no free
        // file descriptors) repeats on every retry and would flood the log.
        if (failures === 1) {
          this.#emit({
            type: "accept-error",
            time: Date.now(),
            error: text,
            peerGone: false,
            retryInMs: backoffMs,
          });
        } else {
          this.#stats.errors++;
        }
        await this.#sleep(backoffMs);
        continue;
      }
      if (failures > 0) {
        this.#emit({ type: "accept-resumed", time: Date.now(), failures });
        failures = 0;
        backoffMs = 0;
      }
      this.#start(conn);
    }
  }

  #start(conn: Deno.Conn): void {
    if (this.#access.active && !this.#settings.proxyProtocol) {
      const remote = conn.remoteAddr as Deno.NetAddr;
      const rule = this.#access.refusal(remote.hostname);
      if (rule !== undefined) {
        closeQuietly(conn);
        this.#emit({ type: "refused", time: Date.now(), peer: formatAddress(remote), rule });
        return;
      }
    }
    let peerKey: string | undefined;
    if (this.#perPeer) {
      const remote = conn.remoteAddr as Deno.NetAddr;
      // An IPv4 client of an IPv6 socket counts as its IPv4 address.
      peerKey = remote.hostname.startsWith("::ffff:") && remote.hostname.includes(".")
        ? remote.hostname.slice(7)
        : remote.hostname;
      const open = this.#perPeer.get(peerKey) ?? 0;
      if (open >= this.#maxPerPeer) {
        closeQuietly(conn);
        this.#stats.overPeerLimit++;
        this.#emit({
          type: "peer-limit",
          time: Date.now(),
          peer: formatAddress(remote),
          limit: this.#maxPerPeer,
        });
        return;
      }
      this.#perPeer.set(peerKey, open + 1);
    }
    this.#stats.connections++;
    const connection = new Connection(conn, this.#nextId++, this.#settings, this.#observers);
    connection.peerKey = peerKey;
    this.#running.add(connection);
    // run() starts the first read before reporting the connection, so the
    // report costs the client nothing; the message can only be reported
    // after that read completes, so the order of events stays the same.
    connection.run(); // never rejects; reports back through onClosed
    if (this.#wanted.has("connection")) {
      this.#emit({
        type: "connection",
        time: Date.now(),
        id: connection.id,
        peer: connection.peer,
      });
    }
  }

  /** A client named in a PROXY header is refused by the access rules. */
  #onRefused = (peer: string, rule: string): void => {
    this.#emit({ type: "refused", time: Date.now(), peer, rule });
  };

  /** Counts a finished connection in and frees its slot. */
  #onClosed = (connection: Connection, reason: CloseReason): void => {
    const stats = this.#stats;
    stats.messages += connection.messages;
    stats.bytesIn += connection.bytesIn;
    stats.bytesOut += connection.bytesOut;
    if (reason === "reset" || reason === "error") stats.errors++;
    else if (reason === "idle") stats.idleTimeouts++;
    // Refused by its PROXY header: counted as refused (by #onRefused) and,
    // like a peer refused by its socket's address, not as a connection.
    else if (reason === "refused") stats.connections--;
    else if (reason === "shutdown") stats.closedAtShutdown++;
    else if (reason === "message-timeout") stats.messageTimeouts++;
    if (connection.peerKey !== undefined) {
      const open = this.#perPeer!.get(connection.peerKey)! - 1;
      if (open === 0) this.#perPeer!.delete(connection.peerKey);
      else this.#perPeer!.set(connection.peerKey, open);
    }
    this.#running.delete(connection);
    this.#wakeUp(); // a slot is free again
    if (this.#running.size === 0) this.#allClosed?.();
  };

  /**
   * What every connection reports to, made once. Events are built only when
   * someone listens: the exchange itself is cheap.
   */
  #observers = {
    emit: undefined as ((event: ServerEvent) => void) | undefined,
    wants: undefined as ConnectionObservers["wants"],
    onClosed: this.#onClosed,
    onRefused: this.#onRefused,
  };

  #closeOverdue(): void {
    const now = performance.now();
    for (const connection of this.#running) {
      if (now - connection.lastActivity >= this.#idleTimeoutMs) connection.close("idle");
      else if (
        connection.messageStartedAt >= 0 &&
        now - connection.messageStartedAt >= this.#messageTimeoutMs
      ) {
        connection.close("message-timeout");
      }
    }
  }

  async #stop(): Promise<void> {
    this.#closing = true;
    closeQuietly(this.#listener);
    this.#wakeUp();
    await this.#acceptLoop;
    // Connections that already have their reply only wait for the client to
    // close; there is nothing left to deliver, so they go at once, and the
    // drain waits only for those still in an exchange.
    let active = 0;
    for (const connection of this.#running) {
      if (connection.replied) connection.close("done");
      else active++;
    }
    this.#emit({
      type: "shutdown",
      time: Date.now(),
      active,
      drainTimeoutMs: this.#drainTimeoutMs,
    });
    if (this.#running.size > 0) {
      const allClosed = new Promise<void>((resolve) => this.#allClosed = resolve);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, this.#drainTimeoutMs);
      });
      await Promise.race([allClosed, deadline]);
      clearTimeout(timer);
      for (const connection of this.#running) connection.close("shutdown");
      await allClosed;
    }
    clearInterval(this.#idleSweep);
    this.#emit({ type: "summary", time: Date.now(), ...this.stats });
    this.#resolveFinished();
  }
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
  const d = SERVE_DEFAULTS;
  const {
    hostname = d.hostname,
    port = d.port,
    framing = d.framing,
    reply = d.reply,
    echo = d.echo,
    keepAlive = d.keepAlive,
    maxMessageBytes = d.maxMessageBytes,
    idleTimeout = d.idleTimeout,
    messageTimeout = d.messageTimeout,
    maxPerPeer = d.maxPerPeer,
    maxConnections = d.maxConnections,
    backlog = d.backlog,
    drainTimeout = d.drainTimeout,
    lingerTimeout = d.lingerTimeout,
    allow = d.allow,
    deny = d.deny,
    path,
    tls,
    proxyProtocol = d.proxyProtocol,
    reusePort = d.reusePort,
    signal,
    onEvent,
    events = SERVER_EVENT_TYPES,
    closeEvents = d.closeEvents,
    previewBytes = d.previewBytes,
  } = options;
  for (const type of events) {
    if (!(SERVER_EVENT_TYPES as readonly string[]).includes(type)) {
      throw new TypeError(
        `Invalid event type "${type}": expected some of ${SERVER_EVENT_TYPES.join(", ")}`,
      );
    }
  }
  requireInteger("port", port, 0, 65535);
  requireInteger("maximum message size", maxMessageBytes, 1);
  requireInteger("maximum connections", maxConnections, 1);
  requireInteger("maximum connections per peer", maxPerPeer, 0);
  requireDuration("message timeout", messageTimeout);
  if (previewBytes !== Infinity) requireInteger("preview size", previewBytes, 0);
  requireInteger("backlog", backlog, 1);
  requireDuration("idle timeout", idleTimeout);
  requireDuration("drain timeout", drainTimeout);
  requireDuration("linger timeout", lingerTimeout);
  if (closeEvents !== "all" && closeEvents !== "unusual") {
    throw new TypeError(`Invalid closeEvents "${closeEvents}": expected "all" or "unusual"`);
  }
  if (!FRAMINGS.includes(framing)) {
    throw new TypeError(`Invalid framing "${framing}": expected one of ${FRAMINGS.join(", ")}`);
  }
  if (keepAlive && framing !== "line") {
    throw new TypeError(`Invalid keepAlive with framing "${framing}": it needs framing "line"`);
  }
  const access = createAccessPolicy({ allow, deny });
  if (path !== undefined && access.active) {
    throw new TypeError("Invalid allow or deny for a Unix socket: its peers have no address");
  }
  if (maxPerPeer > 0 && (path !== undefined || proxyProtocol)) {
    throw new TypeError(
      path !== undefined
        ? "Invalid maxPerPeer for a Unix socket: its peers have no address"
        : "Invalid maxPerPeer with proxyProtocol: it would count the balancer's address",
    );
  }
  signal?.throwIfAborted();
  if (path !== undefined && tls) throw new TypeError("Invalid tls for a Unix socket");
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
  const server = new TcpServer(
    listener,
    {
      framing,
      reply: typeof reply === "string" ? new TextEncoder().encode(reply) : reply,
      echo,
      maxMessageBytes,
      previewBytes,
      lingerMs: lingerTimeout,
      keepAlive,
      proxyProtocol,
      // Behind a balancer the socket's peer is the balancer: the rules apply
      // to the address in the PROXY header instead.
      access: proxyProtocol ? access : undefined,
      tls: tlsWrap,
    },
    {
      maxConnections,
      drainTimeoutMs: drainTimeout,
      idleTimeoutMs: idleTimeout,
      messageTimeoutMs: messageTimeout,
      maxPerPeer,
    },
    access,
    onEvent,
    events,
    closeEvents,
  );
  signal?.addEventListener("abort", () => server.shutdown(), { once: true });
  return server;
}
