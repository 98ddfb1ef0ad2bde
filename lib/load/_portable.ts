/**
 * The load generator's portable engine: `Deno.connect`, `write`, `read` and
 * `close`, wherever Deno runs, with `--allow-net` only.
 *
 * Each of `concurrency` workers loops its cycle. The hot loop allocates
 * nothing per cycle beyond what Deno's calls do: each worker reuses one read
 * buffer, and the message is encoded once.
 *
 * @module
 */

import { isPeerGone } from "../_errors.ts";
import { closeQuietly, writeAll } from "../_io.ts";
import type { EngineRun } from "./_engine.ts";
import { hasTimeout, sweepPeriod } from "../_time.ts";

function errorKind(error: unknown): string {
  if (error instanceof Deno.errors.ConnectionRefused) return "refused";
  if (isPeerGone(error)) return "reset";
  // The watchdog aborts a connect or closes the socket under a pending read.
  if (
    error instanceof Deno.errors.TimedOut || error instanceof Deno.errors.Interrupted ||
    error instanceof Deno.errors.BadResource
  ) return "timeout";
  return "other";
}

/** Runs the cycles until `mayStart` says stop and every worker has finished its cycle. */
export async function runPortableLoad(run: EngineRun): Promise<void> {
  const { hostname, port, payload, cycleTimeout, mayStart, tally } = run;
  // One timer for every worker: a cycle stuck past cycleTimeout has its
  // connect aborted or its connection closed, which fails the pending
  // operation. Each worker owns a slot, so the hot loop only stores into it.
  const slots = Array.from({ length: run.concurrency }, () => ({
    busy: false,
    since: 0,
    conn: undefined as Deno.Conn | undefined,
    // Reused from cycle to cycle until it has aborted once.
    connecting: new AbortController(),
  }));
  const watchdog = hasTimeout(cycleTimeout)
    ? setInterval(() => {
      const now = performance.now();
      for (const slot of slots) {
        if (!slot.busy || now - slot.since <= cycleTimeout) continue;
        slot.busy = false;
        slot.connecting.abort(new Deno.errors.TimedOut("The cycle timed out"));
        if (slot.conn) closeQuietly(slot.conn);
      }
    }, sweepPeriod(cycleTimeout))
    : undefined;
  type Slot = (typeof slots)[number];

  /** Connects for a slot, under its watchdog. */
  function dial(slot: Slot, begin: number): Promise<Deno.TcpConn> {
    if (slot.connecting.signal.aborted) slot.connecting = new AbortController();
    slot.since = begin;
    slot.busy = true;
    return Deno.connect({ hostname, port, signal: slot.connecting.signal });
  }

  async function closingWorker(_: unknown, worker: number): Promise<void> {
    const slot = slots[worker];
    const buffer = new Uint8Array(64 * 1024);
    while (mayStart()) {
      tally.started++;
      const begin = performance.now();
      let conn: Deno.TcpConn | undefined;
      try {
        conn = await dial(slot, begin);
        slot.conn = conn;
        await writeAll(conn, payload);
        if (run.halfClose) await conn.closeWrite();
        tally.bytesSent += payload.length;
        let count: number | null;
        let received = 0;
        while ((count = await conn.read(buffer)) !== null) {
          tally.bytesReceived += count;
          received += count;
        }
        // A close with no reply is what a server that refused us does.
        if (received === 0) {
          tally.fail("no-reply");
          continue;
        }
        tally.addSample(performance.now() - begin);
        tally.cycles++;
      } catch (error) {
        tally.fail(errorKind(error));
      } finally {
        slot.busy = false;
        slot.conn = undefined;
        if (conn) closeQuietly(conn);
      }
    }
  }

  async function keepAliveWorker(_: unknown, worker: number): Promise<void> {
    const slot = slots[worker];
    const buffer = new Uint8Array(64 * 1024);
    let conn: Deno.TcpConn | undefined;
    while (mayStart()) {
      tally.started++;
      const begin = performance.now();
      try {
        if (conn) {
          slot.since = begin;
          slot.busy = true;
        } else {
          conn = await dial(slot, begin);
          slot.conn = conn;
        }
        await writeAll(conn, payload);
        tally.bytesSent += payload.length;
        // One reply line: read until a newline arrives.
        while (true) {
          const count = await conn.read(buffer);
          if (count === null) {
            throw new Deno.errors.ConnectionReset("The server closed the connection");
          }
          tally.bytesReceived += count;
          if (buffer.subarray(0, count).includes(0x0a)) break;
        }
        tally.addSample(performance.now() - begin);
        tally.cycles++;
      } catch (error) {
        tally.fail(errorKind(error));
        if (conn) closeQuietly(conn);
        conn = undefined;
        slot.conn = undefined;
      } finally {
        slot.busy = false;
      }
    }
    if (conn) closeQuietly(conn);
  }

  try {
    await Promise.all(
      Array.from({ length: run.concurrency }, run.keepAlive ? keepAliveWorker : closingWorker),
    );
  } finally {
    if (watchdog !== undefined) clearInterval(watchdog);
  }
}
