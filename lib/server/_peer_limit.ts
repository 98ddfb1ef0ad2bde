/**
 * The per-peer cap (`maxPerPeer`): how many connections one IP address may
 * have open at once. Past it a new connection from that address is refused
 * at accept, so one client cannot take every slot.
 *
 * @module
 */

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
