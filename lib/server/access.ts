/**
 * Access control: which peer addresses a server talks to.
 *
 * Rules are addresses or CIDR ranges, IPv4 or IPv6 (`127.0.0.1`,
 * `10.0.0.0/8`, `::1`, `fd00::/8`). A peer is refused when it matches a
 * `deny` rule, or when there are `allow` rules and it matches none: deny wins.
 * An IPv4 peer seen through an IPv6 socket (`::ffff:127.0.0.1`) is matched
 * as the IPv4 address it is.
 *
 * @module
 */

/** One parsed address range. */
interface Range {
  /** The rule as given, for logs. */
  text: string;
  family: 4 | 6;
  /** The network address, masked. */
  network: bigint;
  prefix: number;
}

/** Options for {@linkcode createAccessPolicy}. */
export interface AccessPolicyOptions {
  /**
   * Addresses and ranges that may connect. Empty means everyone not denied;
   * an entry that names no address (`""`, `","`) is an error, not that.
   *
   * @default {[]}
   */
  allow?: readonly string[];
  /**
   * Addresses and ranges that may not connect; they win over `allow`.
   *
   * @default {[]}
   */
  deny?: readonly string[];
}

/** Decides whether a peer address may connect. */
export interface AccessPolicy {
  /** Whether there are any rules; without them every peer may connect. */
  readonly active: boolean;
  /**
   * The rule that refuses `address`, or `undefined` when it may connect.
   * An allow list that does not match is reported as `"not in --allow"`.
   */
  refusal(address: string): string | undefined;
}

function parseIPv4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = (value << 8n) | BigInt(part);
  }
  return value;
}

function parseIPv6(text: string): bigint | undefined {
  let address = text.replace(/%.*$/, ""); // drop a zone such as %eth0
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hex groups.
  const v4 = address.match(/^(.*:)(\d+\.\d+\.\d+\.\d+)$/);
  if (v4) {
    const tail = parseIPv4(v4[2]);
    if (tail === undefined) return undefined;
    address = `${v4[1]}${(tail >> 16n).toString(16)}:${(tail & 0xffffn).toString(16)}`;
  }
  const halves = address.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] === "" ? [] : halves[0].split(":");
  const tail = halves.length === 2 && halves[1] !== "" ? halves[1].split(":") : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  let value = 0n;
  for (const group of groups) {
    if (!/^[0-9a-f]{1,4}$/i.test(group)) return undefined;
    value = (value << 16n) | BigInt(parseInt(group, 16));
  }
  return value;
}

/**
 * Parses an IP address (an IPv6 one bracketed or not) into its family and
 * value, unmapping `::ffff:a.b.c.d`; `undefined` when it is not an address.
 */
export function parseAddress(text: string): { family: 4 | 6; value: bigint } | undefined {
  const bare = text.replace(/^\[(.*)\]$/, "$1");
  const v4 = parseIPv4(bare);
  if (v4 !== undefined) return { family: 4, value: v4 };
  const v6 = parseIPv6(bare);
  if (v6 === undefined) return undefined;
  if (v6 >> 32n === 0xffffn) return { family: 4, value: v6 & 0xffffffffn };
  return { family: 6, value: v6 };
}

/**
 * Parses one rule such as `127.0.0.1`, `10.0.0.0/8` or `fd00::/8`.
 *
 * @throws {TypeError} When the rule is not an address or range.
 */
function parseRange(text: string): Range {
  const [addressText, prefixText, extra] = text.trim().split("/");
  const address = parseAddress(addressText);
  const bits = address?.family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (
    !address || extra !== undefined ||
    (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) || prefix > bits
  ) {
    throw new TypeError(
      `Invalid address or range "${text}": expected an IPv4 or IPv6 address, optionally with /prefix`,
    );
  }
  const mask = ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - prefix)) - 1n);
  return { text: text.trim(), family: address.family, network: address.value & mask, prefix };
}

function matches(range: Range, family: 4 | 6, value: bigint): boolean {
  if (range.family !== family) return false;
  const bits = family === 4 ? 32 : 128;
  const shift = BigInt(bits - range.prefix);
  return (value >> shift) === (range.network >> shift);
}

/**
 * Builds the policy for a server's `allow` and `deny` rules. Each rule may
 * also be a comma-separated list.
 *
 * @example Allowing one host, denying a range
 * ```ts
 * import { createAccessPolicy } from "./access.ts";
 *
 * const policy = createAccessPolicy({ allow: ["127.0.0.0/8"], deny: ["127.0.0.2"] });
 * policy.refusal("127.0.0.1"); // undefined: may connect
 * policy.refusal("127.0.0.2"); // "127.0.0.2": denied
 * policy.refusal("::1"); // "not in --allow"
 * ```
 *
 * @param options The rules.
 * @returns The policy.
 * @throws {TypeError} When a rule is not an address or range, or a rule
 * string (`""`, `","`) names none.
 */
export function createAccessPolicy(options: AccessPolicyOptions = {}): AccessPolicy {
  const split = (rules: readonly string[] = []) =>
    rules.flatMap((rule) => {
      const items = rule.split(",").filter((item) => item.trim() !== "");
      // An empty rule would silently admit everyone: `--allow "$RANGES"`
      // with the variable unset must fail, not open the server.
      if (items.length === 0) {
        throw new TypeError(`Invalid rule list "${rule}": it names no address or range`);
      }
      return items.map(parseRange);
    });
  const allow = split(options.allow);
  const deny = split(options.deny);
  return {
    active: allow.length > 0 || deny.length > 0,
    refusal(address: string): string | undefined {
      if (allow.length === 0 && deny.length === 0) return undefined;
      const parsed = parseAddress(address);
      if (!parsed) return "unknown address";
      const denied = deny.find((range) => matches(range, parsed.family, parsed.value));
      if (denied) return denied.text;
      if (allow.length === 0) return undefined;
      return allow.some((range) => matches(range, parsed.family, parsed.value))
        ? undefined
        : "not in --allow";
    },
  };
}
