/**
 * The PROXY protocol, versions 1 and 2: the header a load balancer such as
 * HAProxy puts before a client's bytes, naming the client's real address.
 *
 * Behind a balancer every connection comes from the balancer's address;
 * with `proxyProtocol` the server reads this header first and logs, limits
 * and allows or denies by the address in it. This module parses the header
 * ({@linkcode parseProxyHeader}) and reads it off a connection.
 *
 * @module
 */

/** A header's worth of information: where the client really is. */
export interface ProxyHeader {
  /**
   * The client's address; `undefined` for `UNKNOWN` (v1), `LOCAL` and
   * `UNSPEC` (v2) headers, when the connection's own address stands.
   */
  source?: { hostname: string; port: number };
  /** The header's length in bytes; what follows is the client's data. */
  length: number;
}

import { escapeBytes } from "../log/escape.ts";
import { formatAddress } from "../_io.ts";
import type { Connection } from "../connection.ts";

/**
 * A peer sent something that is not a valid PROXY protocol header: a fault
 * of the peer's, reported on its connection, not a bad argument.
 */
export class ProxyProtocolError extends Error {
  /**
   * Makes the error.
   *
   * @param message What is wrong with the header.
   */
  constructor(message: string) {
    super(message);
    this.name = "ProxyProtocolError";
  }
}

const V2_SIGNATURE = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];
/** The longest v1 header, CRLF included, as the specification sets it. */
export const PROXY_V1_MAX_BYTES = 107;
/**
 * The longest header accepted. A v2 header may carry up to 64 KiB of
 * extensions (TLVs); balancers send a few hundred bytes at most (HAProxy's
 * SSL, unique-id and authority TLVs, AWS's endpoint id), so 4 KiB leaves
 * room for all of them while bounding what an unread header can hold.
 */
export const PROXY_HEADER_MAX_BYTES = 4096;

/** A peer's bytes, quoted for an error message: escaped, and cut short. */
function quote(bytes: Uint8Array): string {
  return `"${escapeBytes(bytes, { maxBytes: PROXY_V1_MAX_BYTES })}"`;
}

function ipv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  // Compress the longest run of two or more zero groups, as RFC 5952 says.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (bestStart === -1) return hex.join(":");
  return `${hex.slice(0, bestStart).join(":")}::${hex.slice(bestStart + bestLength).join(":")}`;
}

function parseV1(bytes: Uint8Array): ProxyHeader | "incomplete" {
  const end = bytes.subarray(0, PROXY_V1_MAX_BYTES).indexOf(0x0a);
  if (end === -1) {
    if (bytes.length >= PROXY_V1_MAX_BYTES) {
      throw new ProxyProtocolError("PROXY v1 header is too long");
    }
    return "incomplete";
  }
  // The header is ASCII; anything else makes it malformed, and is quoted
  // escaped: these are a peer's bytes on their way to a log.
  const raw = bytes.subarray(0, end + 1);
  if (raw.some((byte) => byte > 0x7e || (byte < 0x20 && byte !== 0x0d && byte !== 0x0a))) {
    throw new ProxyProtocolError(`Malformed PROXY v1 header: ${quote(raw)}`);
  }
  const line = new TextDecoder().decode(raw);
  if (!line.endsWith("\r\n")) {
    throw new ProxyProtocolError("PROXY v1 header does not end with CRLF");
  }
  const fields = line.slice(0, -2).split(" ");
  if (fields[1] === "UNKNOWN") return { length: end + 1 };
  const [, family, source, , sourcePort] = fields;
  const port = Number(sourcePort);
  const valid = fields.length === 6 && (family === "TCP4" || family === "TCP6") &&
    /^\d{1,5}$/.test(sourcePort) && port <= 65535 &&
    (family === "TCP4" ? /^\d{1,3}(\.\d{1,3}){3}$/.test(source) : /^[0-9a-f:.]+$/i.test(source));
  if (!valid) throw new ProxyProtocolError(`Malformed PROXY v1 header: ${quote(raw)}`);
  return { source: { hostname: source, port }, length: end + 1 };
}

function parseV2(bytes: Uint8Array): ProxyHeader | "incomplete" {
  if (bytes.length < 16) return "incomplete";
  const versionCommand = bytes[12];
  if (versionCommand >> 4 !== 2) throw new ProxyProtocolError("Unsupported PROXY protocol version");
  const length = 16 + ((bytes[14] << 8) | bytes[15]);
  if (length > PROXY_HEADER_MAX_BYTES) {
    throw new ProxyProtocolError(
      `PROXY v2 header is too long: ${length} bytes, at most ${PROXY_HEADER_MAX_BYTES}`,
    );
  }
  if (bytes.length < length) return "incomplete";
  const command = versionCommand & 0x0f;
  if (command === 0x0) return { length }; // LOCAL: the balancer's own health check
  if (command !== 0x1) throw new ProxyProtocolError("Unknown PROXY v2 command");
  const family = bytes[13];
  const body = bytes.subarray(16, length);
  const port = (offset: number) => (body[offset] << 8) | body[offset + 1];
  if (family === 0x11 && body.length >= 12) {
    return {
      source: { hostname: Array.from(body.subarray(0, 4)).join("."), port: port(8) },
      length,
    };
  }
  if (family === 0x21 && body.length >= 36) {
    return { source: { hostname: ipv6(body.subarray(0, 16)), port: port(32) }, length };
  }
  if (family === 0x00) return { length }; // UNSPEC
  throw new ProxyProtocolError("Unsupported PROXY v2 address family");
}

/**
 * Parses a PROXY protocol header at the start of `bytes`.
 *
 * @example
 * ```ts
 * import { parseProxyHeader } from "./proxy_protocol.ts";
 *
 * const bytes = new TextEncoder().encode("PROXY TCP4 203.0.113.7 10.0.0.1 51000 8080\r\nHai");
 * parseProxyHeader(bytes); // { source: { hostname: "203.0.113.7", port: 51000 }, length: 44 }
 * ```
 *
 * @param bytes What the connection has sent so far.
 * @returns The header, or `"incomplete"` when more bytes are needed.
 * @throws {ProxyProtocolError} When the bytes are not a valid header.
 */
export function parseProxyHeader(bytes: Uint8Array): ProxyHeader | "incomplete" {
  const isV2 = V2_SIGNATURE.every((byte, index) => index >= bytes.length || bytes[index] === byte);
  if (isV2) return bytes.length < 12 ? "incomplete" : parseV2(bytes);
  const v1 = [0x50, 0x52, 0x4f, 0x58, 0x59, 0x20]; // "PROXY "
  if (v1.every((byte, index) => index >= bytes.length || bytes[index] === byte)) {
    return bytes.length < v1.length ? "incomplete" : parseV1(bytes);
  }
  throw new ProxyProtocolError("Missing PROXY protocol header");
}

/**
 * Reads the PROXY protocol header from the start of a connection, takes the
 * client's address from it and checks it against the access rules.
 * Resolves to the bytes read past the header, or to why the connection
 * ends here: `"refused"` by the rules, or `"done"` for a peer that closed
 * before its first byte, as a balancer's health check does. A missing or
 * malformed header throws a `ProxyProtocolError`.
 *
 * The header has its own buffer, bounded by `PROXY_HEADER_MAX_BYTES`, so
 * `maxMessageBytes` limits messages only. Its reads do not count as
 * activity: the whole header must come within the idle timeout, however
 * slowly a peer trickles it.
 */
export async function readProxyHeader(c: Connection): Promise<Uint8Array | "refused" | "done"> {
  let buffer = new Uint8Array(PROXY_V1_MAX_BYTES);
  let length = 0;
  while (true) {
    const header = length === 0 ? "incomplete" : parseProxyHeader(buffer.subarray(0, length));
    if (header !== "incomplete") {
      // UNKNOWN, LOCAL and UNSPEC name no client: the spec says to use the
      // connection's own address, and the rules then apply to that.
      const source = header.source ?? c.conn.remoteAddr as Deno.NetAddr;
      if (header.source) c.peer = formatAddress(header.source);
      const rule = c.settings.access?.refusal(source.hostname);
      if (rule !== undefined) {
        c.onRefused?.(c.peer, rule);
        return "refused";
      }
      // What came after the header: the message's start, or the TLS handshake's.
      return buffer.slice(header.length, length);
    }
    // Read no further than the header can reach: a v2 header says its
    // length after 16 bytes; a v1 header ends within 107.
    const v2Length = length >= 16 && buffer[0] === 0x0d ? 16 + ((buffer[14] << 8) | buffer[15]) : 0;
    const end = Math.min(Math.max(v2Length, PROXY_V1_MAX_BYTES), PROXY_HEADER_MAX_BYTES);
    if (end > buffer.length) {
      const grown = new Uint8Array(end);
      grown.set(buffer.subarray(0, length));
      buffer = grown;
    }
    if (length >= end) throw new ProxyProtocolError("Missing or incomplete PROXY protocol header");
    let more: number | null;
    try {
      more = await c.conn.read(buffer.subarray(length, end));
    } catch (error) {
      // "Idle" alone would be wrong for a peer that trickled bytes all along.
      if (c.closeReason === "idle") {
        c.closeNote = `no whole PROXY header within the idle timeout (${length} bytes)`;
      }
      throw error;
    }
    if (more === null) {
      if (length === 0) return "done"; // connected and closed: a health check
      throw new ProxyProtocolError("The connection ended inside the PROXY header");
    }
    // Counted as read, but not as activity: a trickled header must not
    // keep renewing the idle timeout.
    const activity = c.lastActivity;
    c.onRead(more);
    c.lastActivity = activity;
    length += more;
  }
}
