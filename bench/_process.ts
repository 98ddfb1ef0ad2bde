/**
 * Starting the servers a benchmark compares: any command that prints
 * `Listening on HOST:PORT`. Measuring them (CPU time, memory, descriptors
 * from /proc) is the harness the tests share, in tests/_process.ts.
 *
 * @module
 */

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
