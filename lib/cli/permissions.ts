/**
 * Which permission a command lacks, asked before any socket is opened or
 * file read, so that the answer can be the whole command that works. Asked,
 * never requested: a prompt would stop a script run from a task.
 *
 * @module
 */

import { MissingPermission, type PermissionName } from "../_errors.ts";
import { formatAddress } from "../_io.ts";
import { UsageError } from "./exit.ts";

/** One permission a command needs: its name, and what for. */
export type Need = readonly [PermissionName, string];

/** What reaching or listening on `hostname:port` needs. */
export function addressNeeds(hostname: string, port: number): Need[] {
  return [["net", formatAddress({ hostname, port })]];
}

/** What a Unix socket needs: its file read and written, and net access to it. */
export function unixNeeds(path: string): Need[] {
  return [["read", path], ["write", path], ["net", `unix:${path}`]];
}

/** The library's folder, which each worker loads its modules from afresh. */
export const LIB_FOLDER: URL = new URL("..", import.meta.url);

/** What starting workers needs: reading the library's folder, when it is on disk. */
export function workerNeeds(): Need[] {
  if (LIB_FOLDER.protocol !== "file:") return [];
  return [["read", decodeURIComponent(LIB_FOLDER.pathname).replace(/\/$/, "")]];
}

/** The first of `needs` this process lacks, or `undefined` when it has them all. */
export function missingPermission(needs: Need[]): MissingPermission | undefined {
  for (const [name, target] of needs) {
    const descriptor: Deno.PermissionDescriptor = name === "net"
      ? { name, host: target }
      : name === "ffi"
      ? { name }
      : { name, path: target };
    let state: Deno.PermissionState;
    try {
      state = Deno.permissions.querySync(descriptor).state;
    } catch (error) {
      // Deno throws a URIError for a host it cannot read; the command line's
      // check should have refused it first, and this is never a stack trace.
      throw new UsageError(`Invalid host "${target}": ${(error as Error).message}`);
    }
    if (state !== "granted") {
      return new MissingPermission(name, target);
    }
  }
  return undefined;
}
