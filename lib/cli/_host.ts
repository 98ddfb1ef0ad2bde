/**
 * What `--host` accepts, checked when the command line is parsed, so that a
 * mistyped host is one line and exit code 2, never a stack trace from the
 * first call that reads it (Deno's permission check throws a URIError).
 *
 * @module
 */

import { UsageError } from "./exit.ts";

/** A DNS label: letters, digits, `-` (not at either end) and `_` (seen in real names), 1-63 long. */
const LABEL = /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$/;
const IPV4_PART = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

function isIpv6(text: string): boolean {
  // An optional zone (fe80::1%eth0) after an address the URL parser takes.
  const [address, zone, ...more] = text.split("%");
  if (more.length > 0 || (zone !== undefined && !/^[\w.-]+$/.test(zone))) return false;
  try {
    new URL(`http://[${address}]/`);
    return true;
  } catch {
    return false;
  }
}

/**
 * The host to use for `--host TEXT`: a name (`example.com`, `localhost`), an
 * IPv4 address (`127.0.0.1`), or an IPv6 address, bare or in the brackets
 * people copy from URLs (`::1`, `[::1]`). A name ends without a dot, and one
 * whose last label is a number must be a whole IPv4 address, as URLs read
 * it. Throws a `UsageError` for anything else.
 */
export function parseHost(text: string): string {
  const host = text.replace(/^\[(.*)\]$/, "$1");
  const invalid = (why: string) => new UsageError(`Invalid host "${text}": ${why}`);
  if (host === "") throw invalid("expected a name or address");
  if (host.includes(":")) {
    if (isIpv6(host)) return host;
    if (/^[^:]*:\d+$/.test(host)) throw invalid("give the port with --port");
    throw invalid("expected an IPv6 address such as ::1");
  }
  if (text !== host) throw invalid("brackets are for IPv6 addresses");
  const labels = host.split(".");
  if (/^\d+$/.test(labels.at(-1)!)) {
    if (labels.length === 4 && labels.every((part) => IPV4_PART.test(part))) return host;
    throw invalid("expected an IPv4 address such as 127.0.0.1");
  }
  if (host.length > 253 || !labels.every((label) => LABEL.test(label))) {
    throw invalid("expected a name such as example.com, or an IP address such as 127.0.0.1");
  }
  return host;
}
