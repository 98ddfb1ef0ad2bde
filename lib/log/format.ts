/**
 * Log formatting: server events as readable lines or JSON objects.
 *
 * The readable form keeps the lab's output for the lab's exchange:
 *
 * ```
 * Got connection from 127.0.0.1:50770
 * Hai from client
 * ```
 *
 * and adds a line only for what the lab never reported: idle timeouts,
 * limits, resets, accept failures, shutdown. The JSON form has one object per
 * event with an ISO timestamp. Bytes from a peer are always escaped first
 * (see `escape.ts`), in both forms, and cut there (`escapeBytes`' `maxBytes`).
 *
 * @module
 */

import { escapeBytes, escapeText } from "./escape.ts";
import { formatBytes, formatDuration } from "./units.ts";
import { type ConnectionCloseEvent, SERVER_EVENT_TYPES, type ServerEvent } from "../events.ts";

/** How a piece of a log line is styled on a colour terminal. */
export type LogStyle = "plain" | "dim" | "bold" | "green" | "yellow" | "red";

/** A piece of a log line. */
export interface LogSegment {
  /** The text, already safe to print. */
  text: string;
  /** Its style on a colour terminal. */
  style: LogStyle;
}

/** Options for {@linkcode formatEvent} and {@linkcode formatEventJson}. */
export interface FormatOptions {
  /**
   * Show at most this many bytes of a message; the rest is summarised.
   *
   * @default {4096}
   */
  previewBytes?: number;
}

const CSS: Record<LogStyle, string> = {
  plain: "",
  dim: "color: gray",
  bold: "font-weight: bold",
  green: "color: green",
  yellow: "color: yellow",
  red: "color: red",
};

const numberFormat = new Intl.NumberFormat("en");

function plural(count: number, word: string): string {
  return `${numberFormat.format(count)} ${word}${count === 1 ? "" : "s"}`;
}

/** A message's start, escaped; the server may have kept only the start of `bytes`. */
function preview(data: Uint8Array, bytes: number, previewBytes: number): string {
  return escapeBytes(data, { maxBytes: previewBytes, totalBytes: bytes });
}

function closeDetail(event: ConnectionCloseEvent): string | undefined {
  switch (event.reason) {
    case "done":
      return undefined;
    case "idle":
      return event.error === undefined
        ? `idle for ${formatDuration(event.idleMs ?? event.durationMs)}, closed`
        : `${escapeText(event.error)}, closed`;
    case "limit":
      return "message reached the size limit, closed";
    case "shutdown":
      return "still open at the shutdown deadline, closed";
    case "message-timeout":
      return "message not whole within the message timeout, closed";
    case "reset":
      return `reset by the peer${event.error ? ` (${escapeText(event.error)})` : ""}`;
    case "error":
      // Error text can quote a peer's bytes (a malformed PROXY header, a
      // TLS alert): escaped, as a message is.
      return event.error === undefined ? "error" : escapeText(event.error);
    case "refused":
      return undefined; // its own `refused` event says it, with the rule
  }
}

/**
 * The events {@linkcode formatEvent} may print: every kind but accepts and
 * replies. A server asked for only these (`ServeOptions.events`) does not
 * build the others.
 */
export const READABLE_EVENT_TYPES: readonly ServerEvent["type"][] = SERVER_EVENT_TYPES.filter(
  (type) => type !== "connection" && type !== "reply",
);

/**
 * Formats an event as readable log lines, or returns `undefined` for events
 * the readable log leaves out (accepts, replies and normal closes: the lab
 * printed only the peer and its message).
 *
 * @example The lab's two lines
 * ```ts
 * import { formatEvent, toPlainText } from "./format.ts";
 *
 * const lines = formatEvent({
 *   type: "message",
 *   time: Date.now(),
 *   id: 1,
 *   peer: "127.0.0.1:50770",
 *   data: new TextEncoder().encode("Hai from client"),
 *   bytes: 15,
 *   end: "chunk",
 *   sequence: 1,
 * });
 * console.log(toPlainText(lines!)); // Got connection from 127.0.0.1:50770\nHai from client
 * ```
 *
 * @param event The event to format.
 * @param options How much of a message to show.
 * @returns The segments of one or more lines, joined by `\n` segments.
 */
export function formatEvent(
  event: ServerEvent,
  options: FormatOptions = {},
): LogSegment[] | undefined {
  const { previewBytes = 4096 } = options;
  const plain = (text: string): LogSegment => ({ text, style: "plain" });
  switch (event.type) {
    case "listening":
      return [plain("Listening on "), { text: event.address, style: "bold" }];
    case "message": {
      // A keep-alive connection's later lines follow its first: the peer was
      // named once (JSON logs name it on every event).
      const lines = (event.sequence ?? 1) > 1 ? [] : [
        { text: "Got connection from ", style: "dim" as const },
        { text: event.peer, style: "green" as const },
        plain("\n"),
      ];
      lines.push(plain(preview(event.data, event.bytes, previewBytes)));
      if (event.end === "limit") {
        lines.push({ text: " (cut at the size limit)", style: "yellow" });
      }
      return lines;
    }
    case "close": {
      const detail = closeDetail(event);
      if (detail === undefined) return undefined;
      const style = event.reason === "reset" || event.reason === "error" ? "red" : "yellow";
      return [{ text: event.peer, style: "bold" }, { text: `: ${detail}`, style }];
    }
    case "accept-error":
      if (event.peerGone) {
        return [{
          text: `A client left before it was accepted: ${escapeText(event.error)}`,
          style: "yellow",
        }];
      }
      return [{
        text: `Cannot accept connections: ${escapeText(event.error)}; retrying in ${
          formatDuration(event.retryInMs)
        }, further failures not logged until it works`,
        style: "red",
      }];
    case "accept-resumed":
      return [{
        text: `Accepting connections again after ${plural(event.failures, "failed attempt")}`,
        style: "green",
      }];
    case "shutdown":
      return [{
        text: event.active === 0
          ? "Shutting down"
          : `Shutting down: waiting up to ${formatDuration(event.drainTimeoutMs)} for ${
            plural(event.active, "open connection")
          }`,
        style: "yellow",
      }];
    case "summary": {
      const parts = [
        `Served ${plural(event.connections, "connection")} (${plural(event.messages, "message")})`,
        `${formatBytes(event.bytesIn)} in`,
        `${formatBytes(event.bytesOut)} out`,
        plural(event.errors, "error"),
        plural(event.idleTimeouts, "idle timeout"),
        `${event.closedAtShutdown} closed at the deadline`,
      ];
      if (event.refused > 0) parts.push(`${event.refused} refused`);
      // Shown only when they happened, as refusals are.
      if (event.messageTimeouts > 0) {
        parts.push(plural(event.messageTimeouts, "message timeout"));
      }
      if (event.overPeerLimit > 0) parts.push(`${event.overPeerLimit} over the per-peer limit`);
      parts.push(`up ${formatDuration(event.uptimeMs)}`);
      return [{ text: parts.join(", "), style: "bold" }];
    }
    case "refused":
      return [{ text: escapeText(event.peer), style: "bold" }, {
        text: `: refused, ${
          event.rule === "not in --allow" ? event.rule : `denied by ${escapeText(event.rule)}`
        }`,
        style: "yellow",
      }];
    case "peer-limit":
      return [{ text: event.peer, style: "bold" }, {
        text: `: refused, ${plural(event.limit, "connection")} already open from its address`,
        style: "yellow",
      }];
    case "connection":
    case "reply":
      return undefined;
  }
}

/** Joins segments into text without styles. */
export function toPlainText(segments: LogSegment[]): string {
  return segments.map((segment) => segment.text).join("");
}

/**
 * Turns segments into arguments for `console.log` with `%c` styles. Any `%`
 * in the text is doubled, so a peer's bytes can never act as a format
 * directive. Deno drops the styles when output is not a terminal or when
 * `NO_COLOR` is set.
 */
export function toConsoleArgs(segments: LogSegment[]): string[] {
  let format = "";
  const styles: string[] = [];
  for (const segment of segments) {
    format += `%c${segment.text.replaceAll("%", "%%")}`;
    styles.push(CSS[segment.style]);
  }
  return [format, ...styles];
}

/**
 * Formats an event as one line of JSON: `event` (its type), `time` (ISO 8601)
 * and the event's own fields. A message's bytes appear as `message`, escaped
 * as in the readable log and cut at `previewBytes`, with `bytes` giving the
 * whole length.
 *
 * @example
 * ```ts
 * import { formatEventJson } from "./format.ts";
 *
 * console.log(formatEventJson({ type: "listening", time: 0, address: "0.0.0.0:8080" }));
 * // {"event":"listening","time":"1970-01-01T00:00:00.000Z","address":"0.0.0.0:8080"}
 * ```
 *
 * @param event The event to format.
 * @param options How much of a message to include.
 * @returns One line of JSON.
 */
export function formatEventJson(event: ServerEvent, options: FormatOptions = {}): string {
  const { previewBytes = 4096 } = options;
  const { type, time, ...fields } = event;
  const record: Record<string, unknown> = { event: type, time: new Date(time).toISOString() };
  for (const [key, value] of Object.entries(fields)) {
    if (value instanceof Uint8Array) {
      record.message = preview(value, (event as { bytes: number }).bytes, previewBytes);
    } else if (typeof value === "number" && !Number.isInteger(value)) {
      record[key] = Math.round(value * 1000) / 1000;
    } else if (typeof value === "string") {
      // JSON escapes C0 controls but passes C1 and bidi controls through raw.
      record[key] = escapeText(value);
    } else {
      record[key] = value;
    }
  }
  return JSON.stringify(record);
}
