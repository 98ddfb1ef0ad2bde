/**
 * The events a server reports while it runs.
 *
 * The library never prints: a program passes `onEvent` to
 * {@linkcode serve} and decides what to show. `log_format.ts` turns each event
 * into a readable line or a JSON object.
 *
 * @module
 */

/** How a message came to an end. */
export type MessageEnd =
  /** The first read returned (the lab's framing). */
  | "chunk"
  /** A newline arrived. */
  | "newline"
  /** The peer half-closed or closed its side. */
  | "eof"
  /** The message reached the size limit. */
  | "limit";

/** Why a connection was closed. */
export type CloseReason =
  /** The exchange finished normally. */
  | "done"
  /** No byte moved for the idle timeout. */
  | "idle"
  /** The message reached the size limit. */
  | "limit"
  /** The peer reset the connection or stopped reading. */
  | "reset"
  /** The drain deadline passed during shutdown. */
  | "shutdown"
  /** A message was not whole and answered within the message timeout of its first byte. */
  | "message-timeout"
  /** Any other I/O error. */
  | "error"
  /**
   * The access rules refused the client its PROXY header names (a `refused`
   * event says which rule); it is counted as refused, not as a connection.
   */
  | "refused";

/** Counters a server keeps from start to finish. */
export interface ServerStats {
  /**
   * Connections accepted and admitted. A peer the access rules refuse is
   * counted in `refused` instead, whether its socket's address or its PROXY
   * header's was refused.
   */
  connections: number;
  /** Connections open right now. */
  active: number;
  /** Messages received. */
  messages: number;
  /** Bytes received from peers. */
  bytesIn: number;
  /** Bytes sent to peers. */
  bytesOut: number;
  /**
   * Connections that ended in an error, plus failed accepts; not a client
   * that reset while it waited in the backlog, which is its loss, not ours.
   */
  errors: number;
  /** Connections closed because they were idle too long. */
  idleTimeouts: number;
  /** Connections still open at the drain deadline, closed by shutdown. */
  closedAtShutdown: number;
  /** Connections refused by the `allow` and `deny` rules. */
  refused: number;
  /** Connections closed because a message took longer than the message timeout. */
  messageTimeouts: number;
  /** Connections refused because their address had the most open at once already. */
  overPeerLimit: number;
  /** Milliseconds since the server started listening. */
  uptimeMs: number;
}

/** Fields every event has. */
export interface EventBase {
  /** When it happened, in milliseconds since the Unix epoch. */
  time: number;
}

/** Fields of events about one connection. */
export interface ConnectionEventBase extends EventBase {
  /** A number that identifies the connection within this server's run. */
  id: number;
  /** The peer's address, such as `127.0.0.1:50770` or `[::1]:50770`. */
  peer: string;
}

/** The server is listening. */
export interface ListeningEvent extends EventBase {
  /** The event's kind. */
  type: "listening";
  /** The address it listens on, with the real port when 0 was asked for. */
  address: string;
}

/** A connection was accepted. */
export interface ConnectionEvent extends ConnectionEventBase {
  /** The event's kind. */
  type: "connection";
}

/** A connection was refused by the access rules and closed at once, unanswered. */
export interface RefusedEvent extends EventBase {
  /** The event's kind. */
  type: "refused";
  /** The peer's address. */
  peer: string;
  /** The `deny` rule it matched, or `"not in --allow"`. */
  rule: string;
}

/**
 * A connection was refused, closed at once and unanswered, because its
 * address already had `limit` connections open (`maxPerPeer`).
 */
export interface PeerLimitEvent extends EventBase {
  /** The event's kind. */
  type: "peer-limit";
  /** The peer's address. */
  peer: string;
  /** The most connections one address may have open at once. */
  limit: number;
}

/** A message was received. (Named apart from the DOM's `MessageEvent`.) */
export interface ServerMessageEvent extends ConnectionEventBase {
  /** The event's kind. */
  type: "message";
  /**
   * The message's bytes. When an echo is streamed the message is never held
   * whole, and this holds only its first chunk; compare with `bytes`.
   */
  data: Uint8Array;
  /** The message's length in bytes. */
  bytes: number;
  /** How the message ended. */
  end: MessageEnd;
  /**
   * The message's number on its connection: 1, then 2, 3… with keep-alive.
   * The server always sets it; an event without it counts as the first.
   */
  sequence?: number;
}

/** A reply was sent. */
export interface ReplyEvent extends ConnectionEventBase {
  /** The event's kind. */
  type: "reply";
  /** The reply's length in bytes. */
  bytes: number;
}

/** A connection was closed. (Named apart from the DOM's `CloseEvent`.) */
export interface ConnectionCloseEvent extends ConnectionEventBase {
  /** The event's kind. */
  type: "close";
  /** Why it was closed. */
  reason: CloseReason;
  /** Messages received on it (more than one only with keep-alive). */
  messages: number;
  /** Bytes received on it. */
  bytesIn: number;
  /** Bytes sent on it. */
  bytesOut: number;
  /** How long it was open, in milliseconds. */
  durationMs: number;
  /** For `idle`: how long nothing had moved when it was closed, in milliseconds. */
  idleMs?: number;
  /**
   * The error that ended it, for `reset` and `error`; for `idle`, what was
   * cut short, when "idle" alone would mislead (a PROXY header or a TLS
   * handshake trickled slower than the idle timeout).
   */
  error?: string;
}

/**
 * Accepting failed: either one client reset its connection while it waited
 * in the backlog (`peerGone`), or the server cannot accept at all for now,
 * typically because file descriptors ran out.
 */
export interface AcceptErrorEvent extends EventBase {
  /** The event's kind. */
  type: "accept-error";
  /** What the operating system said. */
  error: string;
  /** The client left before it was accepted; nothing is wrong with the server. */
  peerGone: boolean;
  /** How long the server waits before it accepts again; 0 when `peerGone`. */
  retryInMs: number;
}

/** Accepting works again after one or more failures. */
export interface AcceptResumedEvent extends EventBase {
  /** The event's kind. */
  type: "accept-resumed";
  /** How many accepts failed in a row before this one worked. */
  failures: number;
}

/** Shutdown began: the server stopped accepting. */
export interface ShutdownEvent extends EventBase {
  /** The event's kind. */
  type: "shutdown";
  /** Connections still open, which get until the drain deadline. */
  active: number;
  /** The drain deadline, in milliseconds. */
  drainTimeoutMs: number;
}

/** The server has stopped; the final counters. */
export interface SummaryEvent extends EventBase, ServerStats {
  /** The event's kind. */
  type: "summary";
}

/** Every kind of event, for choosing some with `ServeOptions.events`. */
export const SERVER_EVENT_TYPES = [
  "listening",
  "connection",
  "refused",
  "peer-limit",
  "message",
  "reply",
  "close",
  "accept-error",
  "accept-resumed",
  "shutdown",
  "summary",
] as const satisfies readonly ServerEvent["type"][];

/** Everything a server reports through `onEvent`. */
export type ServerEvent =
  | ListeningEvent
  | ConnectionEvent
  | RefusedEvent
  | PeerLimitEvent
  | ServerMessageEvent
  | ReplyEvent
  | ConnectionCloseEvent
  | AcceptErrorEvent
  | AcceptResumedEvent
  | ShutdownEvent
  | SummaryEvent;
