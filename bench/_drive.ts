/**
 * The servers a run compares and the load that drives them: our
 * `server.ts`, the minimal Deno and Node.js baselines, and our own load mode
 * (`client.ts --connections N`) as the load generator.
 *
 * @module
 */

import { type BenchServer, startBenchServer } from "./_process.ts";
import { deno, here, net, root } from "./_context.ts";

/** Our `server.ts` on a free loopback port, with `extra` flags. */
export function ours(
  name: string,
  extra: string[] = [],
  logFile?: string,
  shell?: string,
): Promise<BenchServer> {
  return startBenchServer(
    name,
    deno,
    ["run", net, `${root}server.ts`, "--host", "127.0.0.1", "--port", "0", ...extra],
    { logFile, shell },
  );
}

/** The lab's loop and nothing more, in Deno: the baseline for ours. */
export function minimal(): Promise<BenchServer> {
  return startBenchServer("minimal Deno", deno, ["run", net, `${here}minimal_server.ts`]);
}

/** The same loop on Node.js's `net`. */
export function node(): Promise<BenchServer> {
  return startBenchServer("Node.js net", "node", [`${here}node_server.cjs`]);
}

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
