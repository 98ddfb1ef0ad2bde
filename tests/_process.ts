/**
 * Test helpers: a raw socket peer, an event recorder, and a way to run the
 * entry scripts as the user would.
 *
 * @module
 */

import type { ServerEvent } from "../lib/mod.ts";

export const encoder = new TextEncoder();
export const decoder = new TextDecoder();

/** Whether this test run may spawn processes (`deno test --allow-net` alone may not). */
export const canSpawn = (await Deno.permissions.query({ name: "run" })).state === "granted";

/** Whether a program is on PATH, for interoperability tests that need it. */
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

/** Reads until EOF. */
export async function readAll(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buffer = new Uint8Array(64 * 1024);
  while (true) {
    const count = await conn.read(buffer);
    if (count === null) break;
    chunks.push(buffer.slice(0, count));
  }
  const all = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.length;
  }
  return all;
}

/** Writes every byte. */
export async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

/** Connects to a loopback port. */
export function connect(port: number, hostname = "127.0.0.1"): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname, port });
}

/**
 * Collects a server's events and lets a test await the next one that
 * matches, instead of sleeping.
 */
export class EventRecorder {
  readonly events: ServerEvent[] = [];
  #waiters: { match: (event: ServerEvent) => boolean; resolve: (event: ServerEvent) => void }[] =
    [];

  /** Pass this as `onEvent`. */
  readonly record = (event: ServerEvent): void => {
    this.events.push(event);
    this.#waiters = this.#waiters.filter((waiter) => {
      if (!waiter.match(event)) return true;
      waiter.resolve(event);
      return false;
    });
  };

  /**
   * Resolves with the first event, past or future, that matches; rejects
   * after `timeoutMs`, so an event that never comes fails the test instead
   * of hanging the suite.
   */
  waitFor<T extends ServerEvent["type"]>(
    type: T,
    match: (event: Extract<ServerEvent, { type: T }>) => boolean = () => true,
    timeoutMs = 30_000,
  ): Promise<Extract<ServerEvent, { type: T }>> {
    const test = (event: ServerEvent) =>
      event.type === type && match(event as Extract<ServerEvent, { type: T }>);
    const seen = this.events.find(test);
    if (seen) return Promise.resolve(seen as Extract<ServerEvent, { type: T }>);
    return this.#within(
      timeoutMs,
      `No "${type}" event within ${timeoutMs} ms`,
      (resolve) =>
        this.#waiters.push({ match: test, resolve: resolve as (e: ServerEvent) => void }),
    );
  }

  /** Resolves once `count` events of a type have been seen; rejects after `timeoutMs`. */
  waitForCount(type: ServerEvent["type"], count: number, timeoutMs = 30_000): Promise<void> {
    const enough = () => this.ofType(type).length >= count;
    if (enough()) return Promise.resolve();
    return this.#within(
      timeoutMs,
      `Only ${this.ofType(type).length} of ${count} "${type}" events within ${timeoutMs} ms`,
      (resolve) => {
        const waiter = {
          match: (event: ServerEvent) => event.type === type && this.ofType(type).length >= count,
          resolve: () => resolve(undefined),
        };
        this.#waiters.push(waiter);
      },
    );
  }

  #within<T>(
    timeoutMs: number,
    message: string,
    register: (resolve: (value: T) => void) => void,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(message)), timeoutMs);
      register((value) => {
        clearTimeout(timer);
        resolve(value);
      });
    });
  }

  /** The events of one type so far. */
  ofType<T extends ServerEvent["type"]>(type: T): Extract<ServerEvent, { type: T }>[] {
    return this.events.filter((event) => event.type === type) as Extract<
      ServerEvent,
      { type: T }
    >[];
  }
}

const root = new URL("../", import.meta.url);

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
  async until(match: (line: string) => boolean, timeoutMs = 30_000): Promise<string> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`No matching line within ${timeoutMs} ms; got:\n${this.#tail()}`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([this.#until(match), deadline]);
    } finally {
      clearTimeout(timer);
    }
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

/** The permissions the tests' processes get unless a test says otherwise. */
export const LOOPBACK_NET = "--allow-net=127.0.0.1,[::1],0.0.0.0,[::]";

/**
 * `deno run` of one of the entry scripts, with only the permissions given:
 * stdout and stderr piped, stdin as asked (none by default).
 */
export function scriptCommand(
  script: "server.ts" | "client.ts",
  args: string[],
  options: { permissions?: string[]; stdin?: "piped" | "null"; signal?: AbortSignal } = {},
): Deno.Command {
  const { permissions = [LOOPBACK_NET], stdin = "null", signal } = options;
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", ...permissions, new URL(script, root).pathname, ...args],
    stdin,
    stdout: "piped",
    stderr: "piped",
    signal,
  });
}

/** Runs `deno run` on one of the entry scripts and collects its output. */
export async function runScript(
  script: "server.ts" | "client.ts",
  args: string[],
  options: { permissions?: string[]; stdin?: Uint8Array } = {},
): Promise<{ code: number; stdout: Uint8Array; stderr: string }> {
  const { permissions, stdin } = options;
  const child = scriptCommand(script, args, { permissions, stdin: stdin ? "piped" : "null" })
    .spawn();
  if (stdin) {
    const writer = child.stdin.getWriter();
    await writer.write(stdin);
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  return { code, stdout, stderr: decoder.decode(stderr) };
}

/** A server started as its own process, with its readable or JSON log. */
export interface ServerProcess extends AsyncDisposable {
  port: number;
  child: Deno.ChildProcess;
  stdout: LineReader;
  /**
   * Sends a signal (SIGTERM unless given; `null` for none, when one was sent
   * already) and resolves to the exit code and the whole log.
   */
  stop(signal?: Deno.Signal | null): Promise<{ code: number; lines: string[]; stderr: string }>;
}

/** Starts `server.ts` on a free loopback port and waits for its listening line. */
export async function startServer(
  args: string[] = [],
  options: { shell?: string } = {},
): Promise<ServerProcess> {
  const script = new URL("server.ts", root).pathname;
  const denoArgs = [
    "run",
    "--no-prompt",
    "--allow-net=127.0.0.1,[::1],0.0.0.0,[::]",
    script,
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    ...args,
  ];
  // A shell prefix such as `ulimit -n 256;` sets limits for the server alone.
  const command = options.shell
    ? new Deno.Command("sh", {
      args: ["-c", `${options.shell} exec "$0" "$@"`, Deno.execPath(), ...denoArgs],
      stdout: "piped",
      stderr: "piped",
    })
    : new Deno.Command(Deno.execPath(), {
      args: denoArgs,
      stdout: "piped",
      stderr: "piped",
    });
  const child = command.spawn();
  const stdout = new LineReader(child.stdout);
  const stderrText = new Response(child.stderr).text();
  const listening = await stdout.until((line) =>
    line.startsWith("Listening on ") || line.includes('"event":"listening"')
  ).catch(async (error) => {
    throw new Error(`${error.message}\nstderr: ${await stderrText}`);
  });
  const port = Number(
    listening.startsWith("{")
      ? JSON.parse(listening).address.split(":").pop()
      : listening.split(":").pop(),
  );
  let stopped: Promise<{ code: number; lines: string[]; stderr: string }> | undefined;
  const stop = (signal: Deno.Signal | null = "SIGTERM") => {
    stopped ??= (async () => {
      try {
        if (signal) child.kill(signal);
      } catch { /* already exited */ }
      const lines = await stdout.rest();
      const { code } = await child.status;
      return { code, lines, stderr: await stderrText };
    })();
    return stopped;
  };
  return {
    port,
    child,
    stdout,
    stop,
    async [Symbol.asyncDispose]() {
      await stop("SIGKILL");
    },
  };
}

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
