/**
 * Unix domain sockets: a socket file outlives a server that dies, and must
 * be told apart from one a live server still answers on.
 *
 * @module
 */

/**
 * Makes a Unix socket path ready to listen on: nothing there, or a socket
 * file left by a server that died (nothing answers on it), which is removed.
 *
 * @example Replacing a stale socket, then listening
 * ```ts
 * import { clearStaleSocket, serve } from "../mod.ts";
 *
 * await clearStaleSocket("/tmp/lab.sock");
 * await using server = serve({ path: "/tmp/lab.sock" });
 * ```
 *
 * @param path The socket's path.
 * @throws {Deno.errors.AddrInUse} A running server answers on it.
 * @throws {Deno.errors.AlreadyExists} Something that is not a socket is there.
 */
export async function clearStaleSocket(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  if (!info.isSocket) {
    throw new Deno.errors.AlreadyExists(`"${path}" exists and is not a socket`);
  }
  let probe: Deno.Conn;
  try {
    probe = await Deno.connect({ transport: "unix", path });
  } catch (error) {
    if (!(error instanceof Deno.errors.ConnectionRefused)) throw error;
    await Deno.remove(path); // nobody listens: a dead server's leftover
    return;
  }
  probe.close();
  throw new Deno.errors.AddrInUse(`"${path}" is in use by a running server`);
}
