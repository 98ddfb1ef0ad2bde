/**
 * The servers a benchmark compares: our `server.ts`, the minimal Deno and
 * Node.js baselines, and any command that prints `Listening on HOST:PORT`.
 * Measuring them (CPU time, memory, descriptors from /proc) is the harness
 * the tests share, in tests/_process.ts.
 *
 * @module
 */

import { deno, here, net, root } from "./_context.ts";

const decoder = new TextDecoder();

/** A server process under test. */
export interface BenchServer extends AsyncDisposable {
  /** Its name in the report. */
  name: string;
  /** The port it listens on. */
  port: number;
  /** Its process id, for /proc. */
  pid: number;
}

/**
 * Starts a command whose first stdout line is `Listening on HOST:PORT`.
 * `stdout` is where the rest of its output goes (a log file, or nowhere).
 */
export async function startBenchServer(
  name: string,
  command: string,
  args: string[],
  options: { logFile?: string; shell?: string } = {},
): Promise<BenchServer> {
  const { logFile, shell } = options;
  // `exec` keeps one process, so the child's pid is the server's. A log file
  // is the server's stdout itself, as a user's `> server.log` would make it.
  const redirect = logFile ? ` > '${logFile}'` : "";
  const child = new Deno.Command("sh", {
    args: ["-c", `${shell ?? ""} exec "$0" "$@"${redirect}`, command, ...args],
    stdout: logFile ? "null" : "piped",
    stderr: "inherit",
    stdin: "null",
  }).spawn();
  let port: number;
  if (logFile) {
    port = await waitForListeningLine(() => Deno.readTextFile(logFile).catch(() => ""));
  } else {
    const reader = child.stdout.getReader();
    let text = "";
    port = await waitForListeningLine(async () => {
      const { value } = await reader.read();
      if (value) text += decoder.decode(value);
      return text;
    });
    // Keep draining, so a chatty server never blocks on a full pipe.
    (async () => {
      while (!(await reader.read()).done) { /* discard */ }
    })().catch(() => {});
  }
  const pid = child.pid;
  return {
    name,
    port,
    pid,
    async [Symbol.asyncDispose]() {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
    },
  };
}

async function waitForListeningLine(read: () => Promise<string>): Promise<number> {
  const deadline = performance.now() + 20_000;
  while (performance.now() < deadline) {
    const match = (await read()).match(/Listening on [^\s]*:(\d+)/);
    if (match) return Number(match[1]);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error("A benchmark server did not start within 20 s");
}

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
