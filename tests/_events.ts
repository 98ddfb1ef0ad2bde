/**
 * A recorder of a `serve()` server's events, for tests that await an event
 * instead of sleeping.
 *
 * @module
 */

import { serve, type ServeOptions, type ServerEvent } from "../lib/mod.ts";
import { within } from "./_process.ts";

/**
 * Collects a server's events and lets a test await the next one that
 * matches, instead of sleeping.
 */
export class EventRecorder {
  readonly events: ServerEvent[] = [];
  #waiters: { match: (event: ServerEvent) => boolean; resolve: (event: ServerEvent) => void }[] =
    [];

  /** Pass this as `onEvent`. */
  readonly record = (event: ServerEvent): void => {
    this.events.push(event);
    this.#waiters = this.#waiters.filter((waiter) => {
      if (!waiter.match(event)) return true;
      waiter.resolve(event);
      return false;
    });
  };

  /**
   * Resolves with the first event, past or future, that matches; rejects
   * after `timeoutMs`, so an event that never comes fails the test instead
   * of hanging the suite.
   */
  waitFor<T extends ServerEvent["type"]>(
    type: T,
    match: (event: Extract<ServerEvent, { type: T }>) => boolean = () => true,
    timeoutMs = 30_000,
  ): Promise<Extract<ServerEvent, { type: T }>> {
    const test = (event: ServerEvent) =>
      event.type === type && match(event as Extract<ServerEvent, { type: T }>);
    const seen = this.events.find(test);
    if (seen) return Promise.resolve(seen as Extract<ServerEvent, { type: T }>);
    return within(
      new Promise<Extract<ServerEvent, { type: T }>>((resolve) =>
        this.#waiters.push({ match: test, resolve: resolve as (e: ServerEvent) => void })
      ),
      timeoutMs,
      `No "${type}" event within ${timeoutMs} ms`,
    );
  }

  /** Resolves once `count` events of a type have been seen; rejects after `timeoutMs`. */
  waitForCount(type: ServerEvent["type"], count: number, timeoutMs = 30_000): Promise<void> {
    const enough = () => this.ofType(type).length >= count;
    if (enough()) return Promise.resolve();
    return within(
      new Promise<void>((resolve) => {
        this.#waiters.push({
          match: (event: ServerEvent) => event.type === type && this.ofType(type).length >= count,
          resolve: () => resolve(),
        });
      }),
      timeoutMs,
      `Only ${this.ofType(type).length} of ${count} "${type}" events within ${timeoutMs} ms`,
    );
  }

  /** The events of one type so far. */
  ofType<T extends ServerEvent["type"]>(type: T): Extract<ServerEvent, { type: T }>[] {
    return this.events.filter((event) => event.type === type) as Extract<
      ServerEvent,
      { type: T }
    >[];
  }
}

/** A `serve()` server on a free loopback port, with a recorder of its events. */
export function serveRecorded(
  options: ServeOptions = {},
): { server: ReturnType<typeof serve>; recorder: EventRecorder } {
  const recorder = new EventRecorder();
  const server = serve({ hostname: "127.0.0.1", port: 0, ...options, onEvent: recorder.record });
  return { server, recorder };
}
