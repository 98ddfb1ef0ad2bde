/**
 * A TCP server and client for learning socket programming: the classic lab
 * exchange by default, production grade around it.
 *
 * The lab's server is one loop: accept a connection, hand it to its own
 * handler, go straight back to accepting, so one slow client delays only
 * itself. The handler receives one message, replies and closes, whatever
 * happens. Stripped of everything else, {@linkcode serve} is this:
 *
 * ```ts ignore
 * const listener = Deno.listen({ port: 8080 });
 * while (true) {
 *   const conn = await listener.accept(); // accept
 *   (async () => { // each connection on its own
 *     try {
 *       const buffer = new Uint8Array(1024);
 *       const count = await conn.read(buffer); // receive one message
 *       console.log(new TextDecoder().decode(buffer.subarray(0, count ?? 0))); // log it
 *       await conn.write(new TextEncoder().encode("Thanks for connecting")); // reply
 *     } finally {
 *       conn.close(); // close, always
 *     }
 *   })();
 * }
 * ```
 *
 * The loop is in `server.ts`, the handler in `connection.ts`, and each
 * production concern around them (limits, deadlines, back-off, access
 * rules, the PROXY protocol, TLS, Unix sockets, workers) in `server/`.
 * {@linkcode sendMessage} is the client: connect, send, half-close, read
 * the reply to EOF.
 *
 * @example A server on a free port, one exchange, a clean stop
 * ```ts
 * import { sendMessage, serve } from "./mod.ts";
 *
 * await using server = serve({ hostname: "127.0.0.1", port: 0 });
 * const { reply } = await sendMessage({ port: server.addr.port });
 * console.log(new TextDecoder().decode(reply)); // Thanks for connecting
 * ```
 *
 * Also here: {@linkcode runSession}, the client's interactive form, as
 * `nc`; {@linkcode runLoad}, a load generator; {@linkcode formatEvent} and
 * {@linkcode escapeBytes}, to log the server's events safely.
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
export { runSession, type SessionOptions, type SessionResult, toCrlf } from "./client/session.ts";
export { formatLoadProgress, formatLoadReport } from "./load/format.ts";
export {
  type LatencySummary,
  type LoadEngine,
  type LoadOptions,
  type LoadProgress,
  type LoadReport,
  runLoad,
} from "./load/run_load.ts";

// Logging the server's events.
export { escapeBytes, type EscapeOptions, escapeText } from "./log/escape.ts";
export { formatBytes, formatDuration } from "./log/units.ts";
export {
  formatEvent,
  formatEventJson,
  type FormatOptions,
  type LogSegment,
  type LogStyle,
  READABLE_EVENT_TYPES,
  toPlainText,
} from "./log/format.ts";
