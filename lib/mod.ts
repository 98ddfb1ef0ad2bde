/**
 * A TCP server and client for learning socket programming: the classic lab
 * exchange by default, production grade around it.
 *
 * The lab in ten lines: the server accepts, and hands each connection to
 * its own handler, which receives one message, replies and closes; the
 * loop goes straight back to accepting, so one slow client delays only
 * itself. {@linkcode serve} runs that loop (`server.ts`, with the handler
 * in `connection.ts`); {@linkcode sendMessage} is the client: connect,
 * send, half-close, read the reply to EOF.
 *
 * @example The whole exchange
 * ```ts
 * import { sendMessage, serve } from "./mod.ts";
 *
 * // Listen; port 0 picks a free one. Each connection: receive, reply, close.
 * await using server = serve({ hostname: "127.0.0.1", port: 0 });
 * // Connect, send "Hai from client", half-close, read to EOF.
 * const { reply } = await sendMessage({ port: server.addr.port });
 * console.log(new TextDecoder().decode(reply)); // Thanks for connecting
 * // Leaving the block shuts the server down: stop accepting, drain, close.
 * ```
 *
 * Around the lab: limits and deadlines, access rules
 * ({@linkcode createAccessPolicy}), the PROXY protocol, TLS, Unix sockets
 * ({@linkcode clearStaleSocket}), an interactive session
 * ({@linkcode runSession}), a load generator ({@linkcode runLoad}), and log
 * formatting for the server's events ({@linkcode formatEvent}).
 *
 * @module
 */

// The lab: serve, the per-connection exchange's framing, the client.
export { serve, type TcpServer } from "./server.ts";
export {
  DEFAULT_REPLY,
  SERVE_DEFAULTS,
  type ServeDefaults,
  type ServeOptions,
} from "./serve_options.ts";
export {
  DEFAULT_MESSAGE,
  type ReplySink,
  sendMessage,
  type SendMessageOptions,
  type SendMessageResult,
} from "./client.ts";
export {
  type ByteReader,
  type Framing,
  FRAMINGS,
  readMessage,
  type ReadMessageOptions,
  type ReceivedMessage,
} from "./framing.ts";
export type * from "./events.ts";
export { SERVER_EVENT_TYPES } from "./events.ts";

// The server's production concerns.
export { clearStaleSocket } from "./server/unix_socket.ts";
export {
  type AccessPolicy,
  type AccessPolicyOptions,
  createAccessPolicy,
} from "./server/access.ts";
export {
  parseProxyHeader,
  PROXY_HEADER_MAX_BYTES,
  type ProxyHeader,
  ProxyProtocolError,
} from "./server/proxy_protocol.ts";

// The client's interactive session and load generator.
export { runSession, type SessionOptions, type SessionResult, toCrlf } from "./interactive.ts";
export { formatLoadProgress, formatLoadReport } from "./load_format.ts";
export {
  type LatencySummary,
  type LoadEngine,
  type LoadOptions,
  type LoadProgress,
  type LoadReport,
  runLoad,
} from "./load.ts";

// Logging the server's events.
export { escapeBytes, type EscapeOptions, escapeText } from "./escape.ts";
export {
  formatBytes,
  formatDuration,
  formatEvent,
  formatEventJson,
  type FormatOptions,
  type LogSegment,
  type LogStyle,
  READABLE_EVENT_TYPES,
  toPlainText,
} from "./log_format.ts";
