/**
 * The process harness the tests and the benchmark share: whether this run
 * may spawn processes, which programs are on PATH, a reader that drains a
 * child's output line by line, a command run to its end, and what the
 * kernel says about a process in /proc.
 *
 * It lives under tests/ because that folder is already left out of the
 * published package and type-checked by `deno task check`; `bench/` imports
 * it from here.
 *
 * @module
 */

const decoder = new TextDecoder();

/** Whether this run may spawn processes (`deno test --allow-net` alone may not). */
export const canSpawn = (await Deno.permissions.query({ name: "run" })).state === "granted";

/** Whether a program is on PATH, for tests and figures that need it. */
export async function hasProgram(name: string): Promise<boolean> {
  if (!canSpawn) return false;
  try {
    const { success } = await new Deno.Command("sh", {
      args: ["-c", `command -v ${name}`],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

/**
 * Resolves as `promise` does, or rejects with `message` (a function is
 * asked only then) after `timeoutMs`: what never comes fails the test
 * instead of hanging the suite.
 */
export async function within<T>(
  promise: Promise<T>,
  timeoutMs: number,
  message: string | (() => string),
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(typeof message === "string" ? message : message())),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a command to completion; its stdout as text. Throws with its stderr when it fails. */
export async function run(command: string, args: string[]): Promise<string> {
  const { success, stdout, stderr } = await new Deno.Command(command, {
    args,
    stdin: "null",
  }).output();
  if (!success) throw new Error(`${command} failed: ${decoder.decode(stderr).trim()}`);
  return decoder.decode(stdout);
}

/**
 * A line-by-line reader of a child's output. It drains the pipe as fast as
 * the child writes, whether or not the test is reading yet: a child whose
 * stdout pipe fills up would block, and a busy server logs a lot.
 */
export class LineReader {
  /** Every line the child has written so far. */
  readonly lines: string[] = [];
  /** Resolves when the child's output has ended. */
  readonly ended: Promise<void>;
  #cursor = 0;
  #done = false;
  #waiters: (() => void)[] = [];

  constructor(stream: ReadableStream<Uint8Array>) {
    this.ended = this.#pump(stream);
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    let pending = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      pending += text;
      let index;
      while ((index = pending.indexOf("\n")) !== -1) {
        this.lines.push(pending.slice(0, index));
        pending = pending.slice(index + 1);
      }
      this.#notify();
    }
    if (pending !== "") this.lines.push(pending);
    this.#done = true;
    this.#notify();
  }

  #notify(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** The next line not yet returned, or `null` at EOF. */
  async next(): Promise<string | null> {
    while (this.#cursor >= this.lines.length) {
      if (this.#done) return null;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    return this.lines[this.#cursor++];
  }

  /** Waits for the end of the output; returns every line. */
  async rest(): Promise<string[]> {
    await this.ended;
    this.#cursor = this.lines.length;
    return this.lines;
  }

  /**
   * Reads lines until one matches; throws at EOF, or after `timeoutMs` so
   * that a line that never comes fails the test instead of hanging it.
   */
  until(match: (line: string) => boolean, timeoutMs = 30_000): Promise<string> {
    return within(
      this.#until(match),
      timeoutMs,
      () => `No matching line within ${timeoutMs} ms; got:\n${this.#tail()}`,
    );
  }

  async #until(match: (line: string) => boolean): Promise<string> {
    while (true) {
      const line = await this.next();
      if (line === null) {
        throw new Error(`Output ended before the expected line; got:\n${this.#tail()}`);
      }
      if (match(line)) return line;
    }
  }

  #tail(): string {
    return this.lines.slice(-20).join("\n").slice(-4000);
  }
}

/**
 * Accumulates a stream's text, for output that arrives without a final
 * newline (`nc` prints exactly the bytes it received) or from a terminal.
 */
export class TextCollector {
  #reader: ReadableStreamDefaultReader<string>;
  #terminal: boolean;
  /** Everything read so far; from a `terminal`, with its `\r\n` as `\n`. */
  text = "";

  constructor(stream: ReadableStream<Uint8Array>, options: { terminal?: boolean } = {}) {
    this.#reader = stream.pipeThrough(new TextDecoderStream()).getReader();
    this.#terminal = options.terminal ?? false;
  }

  #add(value: string): void {
    this.text += this.#terminal ? value.replaceAll("\r\n", "\n") : value;
  }

  /** Reads until the text so far matches; throws at EOF. */
  async until(pattern: RegExp): Promise<RegExpMatchArray> {
    while (true) {
      const match = this.text.match(pattern);
      if (match) return match;
      const { value, done } = await this.#reader.read();
      if (done) {
        throw new Error(`Output ended before ${pattern}; got: ${JSON.stringify(this.text)}`);
      }
      this.#add(value);
    }
  }

  /** Reads to EOF and returns all the text. */
  async rest(): Promise<string> {
    while (true) {
      const { value, done } = await this.#reader.read();
      if (done) return this.text;
      this.#add(value);
    }
  }
}

/**
 * Reads a file about a process from /proc. Deno grants /proc only with
 * --allow-all, so `cat` reads it: the callers need --allow-run anyway.
 */
function readProc(pid: number, file: string): Promise<string> {
  return run("cat", [`/proc/${pid}/${file}`]);
}

let ticksPerSecond: number | undefined;

/** User plus system CPU time of a process so far, in milliseconds. */
export async function cpuMs(pid: number): Promise<number> {
  if (ticksPerSecond === undefined) {
    const text = await run("getconf", ["CLK_TCK"]).catch(() => "");
    ticksPerSecond = Number(text.trim()) || 100;
  }
  const stat = await readProc(pid, "stat");
  // Fields after the command name, which may contain spaces, in parentheses.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
  return (ticks / ticksPerSecond) * 1000;
}

/** Resident memory of a process, in bytes, from the kernel's accounting. */
export async function residentBytes(pid: number): Promise<number> {
  const kib = (await readProc(pid, "status")).match(/VmRSS:\s+(\d+) kB/)?.[1];
  if (kib === undefined) throw new Error(`No VmRSS for process ${pid}`);
  return Number(kib) * 1024;
}

/** How many file descriptors a process has open. */
export async function openDescriptors(pid: number): Promise<number> {
  return Number(await run("sh", ["-c", `ls /proc/${pid}/fd | wc -l`]));
}
