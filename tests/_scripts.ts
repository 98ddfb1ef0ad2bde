/**
 * The entry scripts run as a user runs them: `deno run` of `server.ts` or
 * `client.ts` with loopback permissions, a server waited on until it
 * listens, and the one-line errors they print.
 *
 * @module
 */

import assert from "node:assert/strict";
import { LineReader } from "./_process.ts";
import { decoder } from "./_sockets.ts";

const root = new URL("../", import.meta.url);

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

/**
 * Starts `server.ts` on a free loopback port and waits for its listening
 * line. `shell` is a prefix such as `ulimit -n 256;`; `permissions` replace
 * the loopback default (a TLS server also reads its certificate).
 */
export async function startServer(
  args: string[] = [],
  options: { shell?: string; permissions?: string[] } = {},
): Promise<ServerProcess> {
  const { shell, permissions = [LOOPBACK_NET] } = options;
  const script = new URL("server.ts", root).pathname;
  const denoArgs = [
    "run",
    "--no-prompt",
    ...permissions,
    script,
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    ...args,
  ];
  // A shell prefix such as `ulimit -n 256;` sets limits for the server alone.
  const command = shell
    ? new Deno.Command("sh", {
      args: ["-c", `${shell} exec "$0" "$@"`, Deno.execPath(), ...denoArgs],
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

/** Asserts a failed run printed one error line and maybe a hint, and no stack trace. */
export function assertOneLineError(stderr: string, pattern: RegExp): void {
  const lines = stderr.trimEnd().split("\n");
  assert.match(lines[0], /^error: /, stderr);
  assert.match(lines[0], pattern);
  assert.ok(lines.length <= 2, `more than an error and a hint:\n${stderr}`);
  assert.doesNotMatch(stderr, /^\s+at /m, "a stack trace reached the user");
}
