/**
 * Starting and measuring the processes a benchmark compares: servers that
 * print `Listening on HOST:PORT`, their CPU time, memory and descriptors, as
 * the kernel accounts them in /proc.
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

/**
 * Reads a file about a process from /proc. Deno grants /proc only with
 * --allow-all, so `cat` reads it: the harness needs --allow-run anyway.
 */
function readProc(pid: number, file: string): Promise<string> {
  return run("cat", [`/proc/${pid}/${file}`]);
}

let ticksPerSecond: number | undefined;

/** User plus system CPU time of a process so far, in milliseconds. */
export async function cpuMs(pid: number): Promise<number> {
  if (ticksPerSecond === undefined) {
    const { stdout } = await new Deno.Command("getconf", { args: ["CLK_TCK"] }).output();
    ticksPerSecond = Number(decoder.decode(stdout).trim()) || 100;
  }
  const stat = await readProc(pid, "stat");
  // Fields after the command name, which may contain spaces, in parentheses.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
  return (ticks / ticksPerSecond) * 1000;
}

/** Resident memory of a process, in bytes. */
export async function residentBytes(pid: number): Promise<number> {
  const status = await readProc(pid, "status");
  return Number(status.match(/VmRSS:\s+(\d+) kB/)![1]) * 1024;
}

/** How many file descriptors a process has open. */
export async function openDescriptors(pid: number): Promise<number> {
  return Number(await run("sh", ["-c", `ls /proc/${pid}/fd | wc -l`]));
}

/** Runs a command to completion; its stdout as text. */
export async function run(command: string, args: string[]): Promise<string> {
  const { success, stdout, stderr } = await new Deno.Command(command, {
    args,
    stdin: "null",
  }).output();
  if (!success) throw new Error(`${command} failed: ${decoder.decode(stderr).trim()}`);
  return decoder.decode(stdout);
}

/** Whether a program is on PATH. */
export async function hasProgram(name: string): Promise<boolean> {
  const { success } = await new Deno.Command("sh", {
    args: ["-c", `command -v ${name}`],
    stdout: "null",
    stderr: "null",
  }).output();
  return success;
}
