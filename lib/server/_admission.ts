/**
 * Who gets in, checked as each connection is accepted: the access rules
 * (`allow`, `deny`; see `access.ts`) and the per-peer cap (`maxPerPeer`),
 * how many connections one IP address may have open at once, so one client
 * cannot take every slot. A refused connection is closed at once,
 * unanswered. Behind a balancer (`proxyProtocol`) the rules wait for the
 * PROXY header's address instead.
 *
 * @module
 */

import type { PeerLimitEvent, RefusedEvent } from "../events.ts";
import { closeQuietly, formatAddress } from "../_io.ts";
import type { AccessPolicy } from "./access.ts";

/**
 * Admits or refuses a new connection: `false` when it is refused (closed
 * and reported), or else the key its per-peer count is under, if counted.
 */
export function admit(
  conn: Deno.Conn,
  access: AccessPolicy | undefined,
  perPeer: PeerLimit | undefined,
  report: (event: RefusedEvent | PeerLimitEvent) => void,
): string | undefined | false {
  if (!access && !perPeer) return undefined; // the usual case: nothing to check
  const remote = conn.remoteAddr as Deno.NetAddr;
  const rule = access?.refusal(remote.hostname);
  if (rule !== undefined) {
    closeQuietly(conn);
    report({ type: "refused", time: Date.now(), peer: formatAddress(remote), rule });
    return false;
  }
  if (!perPeer) return undefined;
  const key = perPeer.admit(remote);
  if (key !== undefined) return key;
  closeQuietly(conn);
  report({ type: "peer-limit", time: Date.now(), peer: formatAddress(remote), limit: perPeer.max });
  return false;
}

/** Open connections by address, for one server. */
export class PeerLimit {
  readonly max: number;
  #open = new Map<string, number>();

  /** @param max The most connections one address may have open at once. */
  constructor(max: number) {
    this.max = max;
  }

  /**
   * Counts a new connection from `remote`; resolves to the key to release it
   * by, or `undefined` when the address already has `max` open.
   */
  admit(remote: Deno.NetAddr): string | undefined {
    // An IPv4 client of an IPv6 socket counts as its IPv4 address.
    const key = remote.hostname.startsWith("::ffff:") && remote.hostname.includes(".")
      ? remote.hostname.slice(7)
      : remote.hostname;
    const open = this.#open.get(key) ?? 0;
    if (open >= this.max) return undefined;
    this.#open.set(key, open + 1);
    return key;
  }

  /** A connection counted under `key` has closed. */
  release(key: string): void {
    const open = this.#open.get(key)! - 1;
    if (open === 0) this.#open.delete(key);
    else this.#open.set(key, open);
  }
}
