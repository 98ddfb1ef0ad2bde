/**
 * Peers that Deno cannot play itself, run as their own processes on
 * loopback: a Python client that resets its connection, and HAProxy in
 * front of a server.
 *
 * @module
 */

import { LineReader } from "./_process.ts";
import { connect, encoder, freePort } from "./_sockets.ts";

/**
 * Starts a Python peer that connects, sends `data`, and on a line from stdin
 * resets the connection (SO_LINGER 0): Deno has no way to send a reset.
 */
export function startResettingPeer(port: number, data: string): { reset(): Promise<void> } {
  const child = new Deno.Command("python3", {
    args: [
      "-c",
      `
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(sys.argv[2].encode())
sys.stdin.readline()
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()
`,
      String(port),
      data,
    ],
    stdin: "piped",
  }).spawn();
  return {
    async reset() {
      const writer = child.stdin.getWriter();
      await writer.write(encoder.encode("\n"));
      await writer.close();
      if (!(await child.status).success) throw new Error("The Python peer failed");
    },
  };
}

/** HAProxy listening on a loopback port, until disposed. */
export interface Haproxy extends AsyncDisposable {
  /** The port its frontend listens on. */
  port: number;
  /**
   * Connects to its frontend. HAProxy says it polls a moment before its
   * listener is bound: a refused connect is retried, for 5 s at most.
   */
  connect(): Promise<Deno.TcpConn>;
}

/**
 * Starts HAProxy in TCP mode on a free loopback port, forwarding to our
 * server as `server` says (`127.0.0.1:PORT send-proxy`, with `ssl verify
 * none` for TLS), and waits until it polls its sockets.
 */
export async function startHaproxy(server: string): Promise<Haproxy> {
  const port = freePort();
  const config = [
    "global",
    "  maxconn 100",
    "defaults",
    "  mode tcp",
    "  timeout connect 5s",
    "  timeout client 10s",
    "  timeout server 10s",
    "frontend lab",
    `  bind 127.0.0.1:${port}`,
    "  default_backend ours",
    "backend ours",
    `  server ours ${server}`,
  ].join("\n");
  const haproxy = new Deno.Command("sh", {
    // The configuration goes in on stdin: no file to write or clean up.
    args: ["-c", "exec haproxy -f /dev/stdin -db -V"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = haproxy.stdin.getWriter();
  await writer.write(encoder.encode(config + "\n"));
  await writer.close();
  const output = new LineReader(haproxy.stdout);
  const errors = new Response(haproxy.stderr).text();
  const stop = async () => {
    haproxy.kill("SIGTERM");
    await Promise.all([haproxy.status, output.rest(), errors]);
  };
  try {
    // Printed once its sockets are bound and it starts polling them.
    await output.until((line) => line.startsWith("Using epoll()"), 10_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    port,
    async connect() {
      for (const started = performance.now();;) {
        try {
          return await connect(port);
        } catch (error) {
          if (!(error instanceof Deno.errors.ConnectionRefused)) throw error;
          if (performance.now() - started > 5000) throw error;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    },
    [Symbol.asyncDispose]: stop,
  };
}
