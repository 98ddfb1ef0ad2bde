/**
 * A TCP server and client for learning socket programming and for quick
 * tests: the classic lab exchange by default, production grade around it.
 *
 * - {@linkcode serve} starts the server: accept, receive one message, reply,
 *   close; each connection on its own, with limits, timeouts and a draining
 *   shutdown.
 * - {@linkcode sendMessage} is the client: connect, send, half-close, read the
 *   reply to EOF; {@linkcode runSession} is its interactive form, as `nc`.
 * - {@linkcode formatEvent} and {@linkcode formatEventJson} turn the server's
 *   events into log lines; {@linkcode escapeBytes} makes a peer's bytes safe to
 *   print.
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
 * @module
 */

export { serve, TcpServer } from "./server.ts";
export { DEFAULT_REPLY, type ServeOptions } from "./serve_options.ts";
export { clearStaleSocket } from "./unix_socket.ts";
export {
  DEFAULT_MESSAGE,
  type ReplySink,
  sendMessage,
  type SendMessageOptions,
  type SendMessageResult,
} from "./client.ts";
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
export {
  type ByteReader,
  type Framing,
  FRAMINGS,
  READ_CHUNK_BYTES,
  readMessage,
  type ReadMessageOptions,
  type ReceivedMessage,
} from "./framing.ts";
export type * from "./events.ts";
export { SERVER_EVENT_TYPES } from "./events.ts";
export { escapeBytes, type EscapeOptions, escapeText } from "./log/escape.ts";
export { parseProxyHeader, PROXY_HEADER_MAX_BYTES, type ProxyHeader } from "./proxy_protocol.ts";
export { type AccessPolicy, type AccessPolicyOptions, createAccessPolicy } from "./access.ts";
export { formatBytes, formatDuration } from "./log/units.ts";
export {
  formatEvent,
  formatEventJson,
  type FormatOptions,
  type LogSegment,
  type LogStyle,
  READABLE_EVENT_TYPES,
  toConsoleArgs,
  toPlainText,
} from "./log/format.ts";
