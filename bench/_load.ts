/**
 * The load that drives the servers: our own load mode
 * (`client.ts --connections N`) as the load generator, in a process of its
 * own as a user would run it.
 *
 * @module
 */

import { deno, net, root } from "./_context.ts";

/** What `client.ts --json` reports of a load run. */
export interface LoadReport {
  cyclesPerSecond: number;
  cycles: number;
  elapsedMs: number;
  latencyMs: { p50: number; p99: number };
  errors: Record<string, number>;
  engine: string;
}

/**
 * Drives a server with our load mode, in its own process like a user's. With
 * --allow-ffi it picks the epoll engine, which leaves the CPU to the server.
 * `limit` is `--duration` and its value, or `--count` and its value.
 */
export async function load(
  port: number,
  concurrency: number,
  options: { engine?: "epoll" | "portable"; limit: string[] },
): Promise<LoadReport> {
  const { engine = "epoll", limit } = options;
  const client = [
    "run",
    net,
    "--allow-ffi",
    `${root}client.ts`,
    "--port",
    String(port),
    "--connections",
    String(concurrency),
    ...limit,
    "--engine",
    engine,
    "--json",
    // The cycle: connect, send, read to EOF, close.
    "--no-half-close",
  ];
  // A burst opens thousands of sockets at once: raise the descriptor limit.
  const { stdout, stderr } = await new Deno.Command("sh", {
    args: ["-c", 'ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"', deno, ...client],
    stdin: "null",
  }).output();
  // Exit code 1 means some cycles failed; the report still says how many.
  const output = new TextDecoder().decode(stdout);
  if (!output.startsWith("{")) {
    throw new Error(`The load generator failed: ${new TextDecoder().decode(stderr)}`);
  }
  return JSON.parse(output) as LoadReport;
}
