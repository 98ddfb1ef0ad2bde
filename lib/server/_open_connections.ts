/**
 * The open connections of one server, kept in an array in which each entry
 * knows its own slot: adding and removing are a store and a swap, with no
 * hashing and no table to resize.
 *
 * Why not a `Set`: with connections opening and closing thousands of times a
 * second, a `Set` (or a `Map` by id) cost a measurable share of the whole
 * exchange's server CPU under load (the figures are in the README's
 * performance notes).
 *
 * @module
 */

/** Something the list can hold: it stores its slot in the entry itself. */
export interface Slotted {
  /** Where the list holds this entry; -1 when it holds it nowhere. */
  slot: number;
}

/** An unordered list of entries with O(1) add and delete. */
export class OpenConnections<T extends Slotted> {
  #entries: T[] = [];

  /** How many entries are held. */
  get size(): number {
    return this.#entries.length;
  }

  /** Holds `entry`, unless it is held already. */
  add(entry: T): void {
    if (entry.slot !== -1) return;
    entry.slot = this.#entries.length;
    this.#entries.push(entry);
  }

  /** Lets go of `entry`; the last entry moves into its slot. */
  delete(entry: T): void {
    const slot = entry.slot;
    if (slot === -1 || this.#entries[slot] !== entry) return;
    const last = this.#entries.pop()!;
    if (last !== entry) {
      this.#entries[slot] = last;
      last.slot = slot;
    }
    entry.slot = -1;
  }

  /** A snapshot, so that closing connections while iterating is safe. */
  [Symbol.iterator](): Iterator<T> {
    return this.#entries.slice()[Symbol.iterator]();
  }
}
