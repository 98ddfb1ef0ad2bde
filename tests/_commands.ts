/**
 * Test helpers for commands as a user types them: `deno task …` and
 * `deno run …` lines split the way a shell splits them, run from the
 * repository's root, and servers started that way.
 *
 * @module
 */

import { LineReader } from "./_process.ts";
import { decoder } from "./_sockets.ts";

/** The repository's root, where `deno task` finds deno.json. */
export const root = new URL("../", import.meta.url).pathname;

/**
 * Splits one shell command into words: quotes ('…', "…") and backslashes as
 * sh reads them, a `#` word starts a comment. Enough for the commands the
 * docs show; `$`, globs and redirections are not expanded.
 */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let index = 0; index < line.length; index++) {
    const char = line[index];
    if (/\s/.test(char)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (char === "#" && word === undefined) {
      break;
    } else if (char === "'") {
      const end = line.indexOf("'", index + 1);
      if (end === -1) throw new SyntaxError(`Unterminated quote in: ${line}`);
      word = (word ?? "") + line.slice(index + 1, end);
      index = end;
    } else if (char === '"') {
      let text = "";
      for (index++; index < line.length && line[index] !== '"'; index++) {
        if (line[index] === "\\" && /["\\$`]/.test(line[index + 1] ?? "")) index++;
        text += line[index];
      }
      if (index >= line.length) throw new SyntaxError(`Unterminated quote in: ${line}`);
      word = (word ?? "") + text;
    } else if (char === "\\") {
      word = (word ?? "") + (line[++index] ?? "");
    } else {
      word = (word ?? "") + char;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** `deno task` or `deno run` with these words after `deno`, from the root. */
export function denoCommand(
  words: string[],
  options: { stdin?: "piped" | "null"; signal?: AbortSignal } = {},
): Deno.Command {
  return new Deno.Command(Deno.execPath(), {
    args: words,
    cwd: root,
    stdin: options.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
    signal: options.signal,
    env: { DENO_NO_UPDATE_CHECK: "1" },
  });
}

/** Runs `deno WORDS…` from the root to its end; input as given, or none. */
export async function runDeno(
  words: string[],
  stdin?: Uint8Array,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = denoCommand(words, { stdin: stdin ? "piped" : "null" }).spawn();
  if (stdin) {
    const writer = child.stdin.getWriter();
    await writer.write(stdin);
    await writer.close();
  }
  // Bounded: a command that hangs fails the test instead of the suite.
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  try {
    const { code, stdout, stderr } = await child.output();
    return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
  } finally {
    clearTimeout(timer);
  }
}

/** A server started with `deno WORDS…`, once it printed where it listens. */
export interface ListeningProcess extends AsyncDisposable {
  /** The address from its `Listening on` line. */
  address: string;
  port: number;
  stdout: LineReader;
  /** SIGTERM (which `deno task` passes on to its child), then the exit code. */
  stop(): Promise<number>;
}

/** Starts `deno WORDS…` and waits for its `Listening on` line (readable or JSON). */
export async function startListening(words: string[]): Promise<ListeningProcess> {
  const child = denoCommand(words).spawn();
  const stdout = new LineReader(child.stdout);
  const stderr = new Response(child.stderr).text();
  let stopped: Promise<number> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* already exited */ }
      await stdout.rest();
      await stderr;
      return (await child.status).code;
    })();
  let line: string;
  try {
    line = await stdout.until((text) => /^Listening on |"event":"listening"/.test(text), 20_000);
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\nstderr: ${await stderr}`);
  }
  const address = line.startsWith("{") ? JSON.parse(line).address : line.slice(13);
  return {
    address,
    port: Number(address.split(":").pop()),
    stdout,
    stop,
    async [Symbol.asyncDispose]() {
      await stop();
    },
  };
}
