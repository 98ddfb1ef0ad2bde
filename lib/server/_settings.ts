/**
 * From `ServeOptions` to what the server runs with: every option checked,
 * so that a wrong value is one clear error before anything listens, and
 * defaults filled in from `SERVE_DEFAULTS`.
 *
 * @module
 */

import { SERVE_DEFAULTS, type ServeOptions } from "../serve_options.ts";
import { SERVER_EVENT_TYPES, type ServerEvent } from "../events.ts";
import { type Framing, FRAMINGS } from "../framing.ts";
import { MAX_TIMER_MS } from "../_time.ts";
import { type AccessPolicy, createAccessPolicy } from "./access.ts";
import type { TlsWrap } from "./_tls.ts";

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

/** What the server itself enforces and reports; resolved from `ServeOptions`. */
export interface ServerSettings {
  maxConnections: number;
  drainTimeoutMs: number;
  idleTimeoutMs: number;
  messageTimeoutMs: number;
  maxPerPeer: number;
  /** The rules, checked at accept unless `proxyProtocol` defers them to the header. */
  access: AccessPolicy;
  onEvent: ((event: ServerEvent) => void) | undefined;
  events: readonly ServerEvent["type"][];
  closeEvents: "all" | "unusual";
}

/** Throws a `RangeError` naming `name` unless `value` is a whole number in range. */
export function requireInteger(name: string, value: number, min: number, max = Infinity): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    const range = max === Infinity ? `at least ${min}` : `from ${min} to ${max}`;
    throw new RangeError(`Invalid ${name} "${value}": expected a whole number ${range}`);
  }
}

/** Throws a `RangeError` naming `name` unless `value` is a timer's milliseconds. */
export function requireDuration(name: string, value: number): void {
  if (!(value >= 0 && value <= MAX_TIMER_MS)) {
    throw new RangeError(
      `Invalid ${name} "${value}": expected milliseconds from 0 to ${MAX_TIMER_MS}`,
    );
  }
}

/** In keep-alive mode the fixed reply ends with a newline, so a client knows where. */
export function replyBytes(reply: string | Uint8Array, keepAlive: boolean): Uint8Array {
  const bytes = typeof reply === "string" ? new TextEncoder().encode(reply) : reply;
  return keepAlive && bytes.at(-1) !== 0x0a ? new Uint8Array([...bytes, 0x0a]) : bytes;
}

/**
 * Checks `options` and fills in the defaults; throws `RangeError` or
 * `TypeError` for an invalid option, or the signal's reason if it is
 * already aborted.
 */
export function resolveServeOptions(options: ServeOptions): {
  listen: Pick<ServeOptions, "path" | "tls" | "signal"> & {
    hostname: string;
    port: number;
    backlog: number;
    reusePort: boolean;
  };
  connection: Omit<ConnectionSettings, "tls">;
  server: ServerSettings;
} {
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
  return {
    listen: { hostname, port, backlog, path, tls, reusePort, signal },
    connection: {
      framing,
      // In keep-alive mode the reply must end with a newline.
      reply: replyBytes(reply, keepAlive),
      echo,
      maxMessageBytes,
      previewBytes,
      lingerMs: lingerTimeout,
      keepAlive,
      proxyProtocol,
      // Behind a balancer the socket's peer is the balancer: the rules apply
      // to the address in the PROXY header instead.
      access: proxyProtocol ? access : undefined,
    },
    server: {
      maxConnections,
      drainTimeoutMs: drainTimeout,
      idleTimeoutMs: idleTimeout,
      messageTimeoutMs: messageTimeout,
      maxPerPeer,
      access,
      onEvent,
      events,
      closeEvents,
    },
  };
}
