/**
 * The server's options: what each means, and its default, defined once in
 * {@linkcode SERVE_DEFAULTS}. The checks that turn a wrong value into one
 * clear error before anything listens are in `server/_settings.ts`.
 *
 * @module
 */

import type { Framing } from "./framing.ts";
import type { ServerEvent } from "./events.ts";

/** The lab's reply. */
export const DEFAULT_REPLY = "Thanks for connecting";

/**
 * Every default of {@linkcode ServeOptions}, defined here only: `serve()`
 * and the `server.ts` script both read them from this object.
 */
export const SERVE_DEFAULTS: ServeDefaults = {
  hostname: "0.0.0.0",
  port: 8080,
  framing: "chunk",
  reply: DEFAULT_REPLY,
  echo: false,
  keepAlive: false,
  maxMessageBytes: 1024 * 1024,
  idleTimeout: 30_000,
  messageTimeout: 60_000,
  maxPerPeer: 0,
  maxConnections: 1024,
  backlog: 4096,
  drainTimeout: 5_000,
  lingerTimeout: 2_000,
  allow: [],
  deny: [],
  proxyProtocol: false,
  reusePort: false,
  closeEvents: "all",
  previewBytes: Infinity,
};

/** The options that have a default value, as {@linkcode SERVE_DEFAULTS} gives them. */
export type ServeDefaults = Readonly<
  Required<Omit<ServeOptions, "path" | "tls" | "signal" | "onEvent" | "events">>
>;

/** Options for {@linkcode serve}. Every field is optional; none gives the lab's server. */
export interface ServeOptions {
  /**
   * The address to listen on: `0.0.0.0` for every IPv4 interface,
   * `127.0.0.1` for this machine only, `::` or `::1` for IPv6.
   *
   * @default {"0.0.0.0"}
   */
  hostname?: string;
  /**
   * The port to listen on; `0` picks a free one (read it from `server.addr`).
   *
   * @default {8080}
   */
  port?: number;
  /**
   * Where a message ends: `"chunk"` (what the first read returns), `"line"`
   * (up to a newline) or `"eof"` (until the client half-closes).
   *
   * @default {"chunk"}
   */
  framing?: Framing;
  /**
   * The reply to every message, unless `echo` is set.
   *
   * @default {"Thanks for connecting"}
   */
  reply?: string | Uint8Array;
  /**
   * Send each message back instead of `reply`. With the `"eof"` framing the
   * echo is streamed, so a message of any size passes through.
   *
   * @default {false}
   */
  echo?: boolean;
  /**
   * With `framing: "line"`: keep the connection open and answer line after
   * line until the client closes. The fixed reply then ends with a newline.
   *
   * @default {false}
   */
  keepAlive?: boolean;
  /**
   * The largest message in bytes. Reading stops there, the message ends with
   * `end: "limit"`, the reply is sent and the connection closed.
   *
   * @default {1048576}
   */
  maxMessageBytes?: number;
  /**
   * Close a connection after this many milliseconds without a byte moving
   * either way. `0` means no timeout.
   *
   * @default {30000}
   */
  idleTimeout?: number;
  /**
   * Close a connection whose message is not whole, and answered, this many
   * milliseconds after its first byte, however steadily bytes trickle in:
   * the idle timeout never fires for a client that sends a byte a second.
   * With `keepAlive` each message has its own deadline; between messages
   * only the idle timeout applies. `0` means no deadline.
   *
   * @default {60000}
   */
  messageTimeout?: number;
  /**
   * The most connections open at once from one IP address. Past it a new
   * connection from that address is refused: closed at once, unanswered.
   * `0` means no cap. It counts the socket's address, so it cannot be used
   * with `path` (no address) or `proxyProtocol` (the balancer's address).
   *
   * @default {0}
   */
  maxPerPeer?: number;
  /**
   * The most connections open at once. Past it the server stops accepting
   * until one ends; new clients wait in the kernel's backlog.
   *
   * @default {1024}
   */
  maxConnections?: number;
  /**
   * The kernel's queue of connections not yet accepted (capped by the
   * system's `net.core.somaxconn`). Large, so a burst of connects is queued
   * rather than dropped and retried a second later.
   *
   * @default {4096}
   */
  backlog?: number;
  /**
   * On shutdown, how many milliseconds connections in flight get to finish
   * before they are closed.
   *
   * @default {5000}
   */
  drainTimeout?: number;
  /**
   * After replying, how many milliseconds to wait for the client to close
   * first, reading and discarding what it still sends. Closing with unread
   * input would reset the connection and could destroy the reply in flight.
   *
   * @default {2000}
   */
  lingerTimeout?: number;
  /**
   * Addresses and CIDR ranges, IPv4 or IPv6, that may connect; empty for
   * everyone not denied (but an entry that names no address, such as `""`,
   * throws). A refused client is closed at once with no reply.
   *
   * @default {[]}
   */
  allow?: readonly string[];
  /**
   * Addresses and CIDR ranges that may not connect; deny wins over allow.
   *
   * @default {[]}
   */
  deny?: readonly string[];
  /**
   * Share the port with other listeners (SO_REUSEPORT), so that several
   * workers can each run an accept loop on it and the kernel spreads the
   * connections between them. Deno needs `--unstable-net` for this.
   *
   * @default {false}
   */
  reusePort?: boolean;
  /**
   * Expect a PROXY protocol header (v1 or v2) before each client's bytes, as
   * a load balancer sends with `send-proxy`: logs, access rules and events
   * then use the client address it names; a header that names none
   * (`UNKNOWN`, `LOCAL`, `UNSPEC`) leaves the connection's own address, and
   * the rules apply to that. A connection without a valid header is closed
   * with the reason logged; one that closes before its first byte (a health
   * check) is closed quietly. The header has its own buffer of at most
   * `PROXY_HEADER_MAX_BYTES`, and must arrive within `idleTimeout`. With
   * `tls` it comes in clear text, before the handshake.
   *
   * @default {false}
   */
  proxyProtocol?: boolean;
  /**
   * Serve over TLS with this certificate chain and private key (PEM text).
   * This authenticates the server only: clients are not asked for
   * certificates. TLS runs in `node:tls` over sockets the server keeps, so
   * that every deadline (idle timeout, shutdown) really closes a connection
   * whose handshake never started, and so that a clear-text PROXY header
   * (`proxyProtocol`) can come first. `serve()` checks the certificate and
   * key as `Deno.listenTls` does, and throws its error.
   */
  tls?: { cert: string; key: string };
  /**
   * Listen on a Unix domain socket at this path instead of TCP; `hostname`,
   * `port`, `backlog`, `allow` and `deny` do not apply. A file already there
   * makes `serve()` throw `Deno.errors.AddrInUse`: call
   * {@linkcode clearStaleSocket} first to replace one left by a dead server.
   * Needs read, write and net permission for the path
   * (`--allow-net=unix:PATH`).
   */
  path?: string;
  /** Aborting this signal shuts the server down, as `shutdown()` does. */
  signal?: AbortSignal;
  /**
   * Called for everything that happens, in order. Exceptions it throws are
   * ignored: reporting must never stop the server.
   */
  onEvent?: (event: ServerEvent) => void;
  /**
   * The kinds of event `onEvent` receives (see `SERVER_EVENT_TYPES`). The
   * server does not build the others, which saves work on every connection
   * for an observer that needs only some, as the readable log needs only
   * `READABLE_EVENT_TYPES`.
   *
   * @default {SERVER_EVENT_TYPES}
   */
  events?: readonly ServerEvent["type"][];
  /**
   * Which `close` events `onEvent` receives, when `events` has `"close"`:
   * `"all"`, or `"unusual"` to leave out the normal end of an exchange
   * (reason `"done"`). Most connections end normally: not building their
   * events saves work on each, and the readable log prints nothing for them.
   *
   * @default {"all"}
   */
  closeEvents?: "all" | "unusual";
  /**
   * The most bytes of a message that its `message` event carries in `data`,
   * as a copy; `bytes` still gives the whole length. The logs show 4 KiB of
   * a message at most. Bounded, no observer holds a large message's buffer,
   * so the server releases it as soon as the message is answered, rather
   * than leaving it to the garbage collector, which may keep the memory for
   * a long time after the connections are gone.
   *
   * @default {Infinity}
   */
  previewBytes?: number;
}
