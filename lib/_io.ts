/**
 * Small I/O helpers shared by the server and the client.
 *
 * @module
 */

import { hasTimeout } from "./_time.ts";

/**
 * Writes every byte of `bytes`: `Deno.Conn.write` may accept only part of a
 * buffer when the socket's send buffer is full.
 */
export async function writeAll(
  writer: { write(p: Uint8Array): Promise<number> },
  bytes: Uint8Array,
  onWrite?: (count: number) => void,
): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const count = await writer.write(bytes.subarray(offset));
    offset += count;
    onWrite?.(count);
  }
}

/** Closes a resource that may already be closed by the peer, a timer or shutdown. */
export function closeQuietly(closer: { close(): void }): void {
  try {
    closer.close();
  } catch (error) {
    if (!(error instanceof Deno.errors.BadResource)) throw error;
  }
}

/**
 * Calls `onTimeout` after `ms`, unless cancelled first; returns the cancel.
 *
 * Built on `AbortSignal.timeout`, not `setTimeout`: since Deno 2.8 the
 * global `setTimeout` is Node's, and its first call is slow while Node's
 * timer machinery loads, a large share of a short client run. A timeout
 * signal's timer keeps the process alive only while it has a listener, so
 * cancelling by removing the listener leaves nothing behind.
 */
export function callAfter(ms: number, onTimeout: () => void): () => void {
  const signal = AbortSignal.timeout(ms);
  signal.addEventListener("abort", onTimeout, { once: true });
  return () => signal.removeEventListener("abort", onTimeout);
}

/**
 * Calls `onIdle` once no activity has been recorded for `timeout` ms.
 *
 * Recording activity only stores a timestamp: on a busy stream that is far
 * cheaper than clearing and re-arming a timer on every read.
 */
export class IdleTimer {
  #timeout: number;
  #onIdle: () => void;
  #lastActivity = performance.now();
  #cancel: (() => void) | undefined;
  #paused = false;

  constructor(timeout: number, onIdle: () => void) {
    this.#timeout = timeout;
    this.#onIdle = onIdle;
    if (hasTimeout(timeout)) this.#arm(timeout);
  }

  /** Records that a byte moved, postponing the timeout. */
  touch(): void {
    this.#lastActivity = performance.now();
  }

  /**
   * Stops counting until {@linkcode resume}: for waits that are nobody's
   * fault, such as on input that may pause as long as it likes.
   */
  pause(): void {
    this.#paused = true;
  }

  /** Counts again, from now. */
  resume(): void {
    this.#paused = false;
    this.touch();
  }

  /** Disarms the timer; `onIdle` will not be called. */
  stop(): void {
    this.#cancel?.();
    this.#cancel = undefined;
  }

  #arm(delay: number): void {
    this.#cancel = callAfter(delay, () => {
      const idleFor = performance.now() - this.#lastActivity;
      if (this.#paused) {
        this.#arm(this.#timeout);
      } else if (idleFor >= this.#timeout) {
        this.#cancel = undefined;
        this.#onIdle();
      } else {
        this.#arm(this.#timeout - idleFor);
      }
    });
  }
}

/**
 * Formats an address the way it is typed: `127.0.0.1:8080`, `[::1]:8080`,
 * `unix:/tmp/lab.sock`. A Unix peer has no path of its own; `socketPath`
 * names the socket it came in on.
 */
export function formatAddress(
  addr: { hostname: string; port: number } | Deno.Addr,
  socketPath?: string,
): string {
  if ("transport" in addr && (addr.transport === "unix" || addr.transport === "unixpacket")) {
    return `unix:${addr.path || socketPath || ""}`;
  }
  const { hostname, port } = addr as { hostname: string; port: number };
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}
