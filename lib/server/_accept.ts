/**
 * Accepting with back-off. Accepting fails when the process runs out of
 * file descriptors under load, and a plain `for await` over a listener
 * dies of that. The accept loop instead waits, 10 ms after the first
 * failure and twice as long after each next one up to a second, and tries
 * again. A client that reset while it waited in the backlog is its loss,
 * not the server's: reported, and accepting goes on at once.
 *
 * @module
 */

import type { AcceptErrorEvent, AcceptResumedEvent } from "../events.ts";
import { isPeerGone } from "../_errors.ts";

const BACKOFF_MIN_MS = 10;
const BACKOFF_MAX_MS = 1000;

/** A wait that ends after a while or as soon as `wake()` is called, whichever comes first. */
export class Pause {
  #wake: (() => void) | undefined;

  /** Sleeps until `wake()` or, if given, until `ms` have passed. */
  sleep(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(() => this.wake(), ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Ends the current sleep, if any. */
  wake(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** The accept loop's back-off: what it does when `accept()` fails, and when it works again. */
export class AcceptBackoff {
  #failures = 0;
  #backoffMs = 0;
  #pause: Pause;
  #report: (event: AcceptErrorEvent | AcceptResumedEvent) => void;
  #countError: () => void;

  /**
   * @param pause What the back-off sleeps on; a connection that ends, or shutdown, cuts it short.
   * @param report Receives `accept-error` and `accept-resumed` events.
   * @param countError Counts a failure that is not reported.
   */
  constructor(
    pause: Pause,
    report: (event: AcceptErrorEvent | AcceptResumedEvent) => void,
    countError: () => void,
  ) {
    this.#pause = pause;
    this.#report = report;
    this.#countError = countError;
  }

  /** Reports a failed accept and waits before the next one. */
  failed(error: unknown): Promise<void> {
    const text = error instanceof Error ? error.message : String(error);
    if (isPeerGone(error)) {
      const event = { error: text, peerGone: true, retryInMs: 0 };
      this.#report({ type: "accept-error", time: Date.now(), ...event });
      return Promise.resolve();
    }
    this.#failures++;
    this.#backoffMs = Math.min(Math.max(this.#backoffMs * 2, BACKOFF_MIN_MS), BACKOFF_MAX_MS);
    // Report the first failure of a run only: the cause (usually no free
    // file descriptors) repeats on every retry and would flood the log.
    if (this.#failures === 1) {
      const event = { error: text, peerGone: false, retryInMs: this.#backoffMs };
      this.#report({ type: "accept-error", time: Date.now(), ...event });
    } else {
      this.#countError();
    }
    return this.#pause.sleep(this.#backoffMs);
  }

  /** After an accept that worked: reports the end of a run of failures. */
  succeeded(): void {
    if (this.#failures === 0) return;
    this.#report({ type: "accept-resumed", time: Date.now(), failures: this.#failures });
    this.#failures = 0;
    this.#backoffMs = 0;
  }
}
