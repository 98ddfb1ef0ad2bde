/**
 * Opening the client's connection over TCP, TLS or a Unix socket, each under
 * the connect timeout and the caller's abort signal, with errors that name
 * the address.
 *
 * @module
 */

import { callAfter, closeQuietly, formatAddress } from "../_io.ts";
import { formatMs } from "../_time.ts";
import { opError } from "../_errors.ts";

/** Where and how to connect; the caller has checked every field. */
export interface ConnectTarget {
  hostname: string;
  port: number;
  /** A Unix socket path: `hostname` and `port` do not apply. */
  path?: string;
  tls?: boolean | { caCerts?: string[] };
  /** Milliseconds; `0` for none. */
  connectTimeout: number;
  signal?: AbortSignal;
}

function connectTimedOut(target: string, connectTimeout: number): Error {
  const timedOut = new Deno.errors.TimedOut(`no answer within ${formatMs(connectTimeout)}`);
  return opError("Cannot connect to", target, timedOut);
}

/**
 * Opens a connection to `target`, as a TCP, TLS or Unix socket connection.
 * Rejects with the signal's reason once it aborts, and with
 * `Deno.errors.TimedOut` after `connectTimeout`.
 */
export function connect(target: ConnectTarget): Promise<Deno.Conn> {
  const { hostname, port, path, tls, connectTimeout, signal } = target;
  if (path !== undefined) {
    return settle(
      () => Deno.connect({ transport: "unix", path }),
      `unix:${path}`,
      connectTimeout,
      signal,
    );
  }
  if (tls) {
    return settle(
      (stop) => connectTls(hostname, port, tls === true ? [] : tls.caCerts ?? [], stop),
      formatAddress({ hostname, port }),
      connectTimeout,
      signal,
    );
  }
  return connectTcp(hostname, port, connectTimeout, signal);
}

/**
 * Connects over TLS and completes the handshake at once, so that a
 * certificate the client does not trust fails here, named as such, rather
 * than as a write error later. `connectTls` resolves once TCP is connected,
 * so a handshake the server never answers is awaited here: `stop` closes the
 * connection, which cancels the handshake and frees the resource. (Deno
 * 2.9 still holds the socket itself until the server answers or closes: a
 * TLS connection closed mid-handshake sends no FIN, and no call forces one.)
 */
async function connectTls(
  hostname: string,
  port: number,
  caCerts: string[],
  stop: AbortSignal,
): Promise<Deno.TlsConn> {
  const conn = await Deno.connectTls({ hostname, port, caCerts });
  const close = () => closeQuietly(conn);
  stop.addEventListener("abort", close, { once: true });
  try {
    stop.throwIfAborted();
    await conn.handshake();
  } catch (error) {
    closeQuietly(conn);
    throw error;
  } finally {
    stop.removeEventListener("abort", close);
  }
  return conn;
}

/**
 * Waits for a connect that takes no signal of its own (TLS, Unix sockets)
 * under the timeout and the caller's signal. A connect that outlives either
 * is closed when it completes, so nothing leaks.
 *
 * A Unix socket usually connects at once or fails at once (a full backlog is
 * `WouldBlock`), but its path may sit on a file system that hangs: it gets
 * the same deadline as TCP.
 */
async function settle<T extends Deno.Conn>(
  start: (stop: AbortSignal) => Promise<T>,
  target: string,
  connectTimeout: number,
  signal: AbortSignal | undefined,
): Promise<T> {
  let cancelTimer: (() => void) | undefined;
  let onAbort: (() => void) | undefined;
  // Tells the connect to give up what it holds, once the race is lost.
  const stop = new AbortController();
  const stopped = new Promise<never>((_, reject) => {
    if (connectTimeout > 0) {
      cancelTimer = callAfter(connectTimeout, () => {
        reject(connectTimedOut(target, connectTimeout));
        stop.abort();
      });
    }
    onAbort = () => {
      reject(signal!.reason);
      stop.abort();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
  const connecting = start(stop.signal);
  try {
    return await Promise.race([connecting, stopped]);
  } catch (error) {
    connecting.then(closeQuietly, () => {});
    if (error === signal?.reason && signal?.aborted) throw error;
    if (error instanceof Deno.errors.TimedOut || error instanceof Deno.errors.NotCapable) {
      throw error;
    }
    if (error instanceof Deno.errors.WouldBlock && target.startsWith("unix:")) {
      // What Linux answers when a Unix socket's listen queue is full.
      throw opError(
        "Cannot connect to",
        target,
        error,
        "the server is not accepting (its backlog is full)",
      );
    }
    throw opError("Cannot connect to", target, error);
  } finally {
    cancelTimer?.();
    signal?.removeEventListener("abort", onAbort!);
  }
}

async function connectTcp(
  hostname: string,
  port: number,
  connectTimeout: number,
  signal: AbortSignal | undefined,
): Promise<Deno.TcpConn> {
  const target = formatAddress({ hostname, port });
  const controller = new AbortController();
  const connecting = Deno.connect({ hostname, port, signal: controller.signal });
  const cancelTimer = connectTimeout > 0
    ? callAfter(connectTimeout, () => controller.abort(connectTimedOut(target, connectTimeout)))
    : undefined;
  const onAbort = () => controller.abort(signal?.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    return await connecting;
  } catch (error) {
    if (controller.signal.aborted) throw controller.signal.reason;
    if (error instanceof Deno.errors.NotCapable) throw error;
    // "localhost" is this machine over either IP family (RFC 6761), but a
    // hosts file may name only one: when it is refused, try both loopbacks.
    if (error instanceof Deno.errors.ConnectionRefused && /^(.+\.)?localhost\.?$/i.test(hostname)) {
      for (const loopback of ["::1", "127.0.0.1"]) {
        try {
          return await Deno.connect({ hostname: loopback, port, signal: controller.signal });
        } catch {
          if (controller.signal.aborted) throw controller.signal.reason;
          // refused, or not permitted: the original error says more
        }
      }
    }
    throw opError("Cannot connect to", target, error);
  } finally {
    cancelTimer?.();
    signal?.removeEventListener("abort", onAbort);
  }
}
