/**
 * Several accept loops on one port, one per Web Worker, for `server.ts
 * --workers N`: one thread of JavaScript serves one core, and SO_REUSEPORT
 * lets the kernel spread connections over the workers. The pool starts the
 * first worker, learns the real port (port 0 works), starts the rest on it,
 * forwards their events tagged with the worker's number, and on shutdown
 * drains every worker and adds up their counters.
 *
 * @module
 */

import { zeroStats } from "./_stats.ts";
import { SERVE_DEFAULTS, type ServeOptions } from "../serve_options.ts";
import { denoErrorClass, MissingPermission } from "../_errors.ts";
import type { ServerEvent, ServerStats } from "../events.ts";

/** A running pool of workers. */
export interface WorkerPool {
  /** The port they share. */
  port: number;
  /**
   * Drains and stops every worker; resolves to their counters added up. Once
   * every worker has stopped accepting, one `shutdown` event reports the
   * connections still open in all of them.
   */
  shutdown(): Promise<Omit<ServerStats, "uptimeMs">>;
}

/**
 * The most workers: twice the CPUs, or 8 if that is more. Each worker is a
 * thread with its own JavaScript heap (about 11 MiB), and past the cores
 * more of them only add memory.
 */
export function maxWorkers(): number {
  return Math.max(8, 2 * (navigator.hardwareConcurrency || 1));
}

/**
 * Starts `count` workers serving `options` on one port.
 *
 * @param options What each worker's `serve()` gets; plain data only.
 * @param count How many workers.
 * @param onEvent Receives the workers' events, each with its `worker` number,
 * and the pool's own `shutdown`, without one.
 */
export async function serveWorkers(
  options: ServeOptions,
  count: number,
  onEvent?: (event: ServerEvent & { worker?: number }) => void,
): Promise<WorkerPool> {
  // Both failures below would otherwise end the process with Deno's own
  // message: check first, and say what to add.
  if (typeof (Deno as unknown as Record<string, unknown>).listenDatagram !== "function") {
    // Deno.listenDatagram exists only under --unstable-net, as reusePort does.
    throw new Deno.errors.NotSupported(
      `Flag "--workers" needs Deno's --unstable-net flag: run with deno run --unstable-net`,
    );
  }
  const module = new URL("./_worker.ts", import.meta.url);
  if (module.protocol === "file:") {
    // A worker loads its modules afresh, so it needs to read the lib folder.
    const path = decodeURIComponent(new URL("..", module).pathname).replace(/\/$/, "");
    const { state } = await Deno.permissions.query({ name: "read", path });
    if (state !== "granted") {
      throw new MissingPermission("read", path);
    }
  }
  const workers: Worker[] = [];
  const stopped: Promise<ServerStats>[] = [];
  // Each worker reports its own shutdown; the pool reports one for all.
  const draining = { workers: 0, active: 0 };
  const start = (worker: number, port: number) =>
    new Promise<number>((resolve, reject) => {
      const thread = new Worker(module, {
        type: "module",
      });
      workers.push(thread);
      // Events this worker has posted that are not yet taken (see _worker.ts).
      const unread = new Int32Array(new SharedArrayBuffer(4));
      let stop!: (stats: ServerStats) => void;
      stopped.push(new Promise((resolve) => stop = resolve));
      // A worker that cannot even load reports here; its error becomes the
      // pool's, not a crash. Missing permissions were asked for above.
      thread.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        const text = event.message.replace(/^Uncaught (\(in promise\) )?/, "");
        reject(new Error(text));
      };
      thread.onmessage = ({ data }: MessageEvent) => {
        if (data.type === "listening") resolve(data.port);
        else if (data.type === "failed") reject(new (denoErrorClass(data.name))(data.message));
        else if (data.type === "stopped") stop(data.stats);
        else if (data.type === "event") {
          // Taken: the worker may post another. Logging it may block on a
          // full stdout, and then this thread takes no more.
          Atomics.sub(unread, 0, 1);
          Atomics.notify(unread, 0);
          const event = data.event as ServerEvent;
          // The pool speaks for itself where the workers would repeat each other.
          if (event.type === "shutdown") {
            draining.active += event.active;
            if (++draining.workers === workers.length) {
              onEvent?.({ ...event, time: Date.now(), active: draining.active });
            }
            return;
          }
          if (event.type === "listening" || event.type === "summary") return;
          onEvent?.({ ...event, worker });
        }
      };
      thread.postMessage({
        type: "start",
        options: { ...options, port },
        events: !!onEvent,
        unread,
      });
    });
  try {
    const port = await start(1, options.port ?? SERVE_DEFAULTS.port);
    for (let worker = 2; worker <= count; worker++) await start(worker, port);
    return {
      port,
      async shutdown() {
        for (const thread of workers) thread.postMessage({ type: "shutdown" });
        const all = await Promise.all(stopped);
        for (const thread of workers) thread.terminate();
        const total = zeroStats();
        for (const stats of all) {
          for (const key of Object.keys(total) as (keyof typeof total)[]) total[key] += stats[key];
        }
        return total;
      },
    };
  } catch (error) {
    for (const thread of workers) thread.terminate();
    throw error;
  }
}
