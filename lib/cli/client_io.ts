/**
 * The client's terminal: standard input as the message or a session's
 * input, and standard output for the reply. Plain reads and writes, not
 * `Deno.stdin.readable`: streams cost start-up time.
 *
 * @module
 */

import { DEFAULT_MESSAGE, type ReplySink } from "../client.ts";
import { writeAll } from "../_io.ts";

/**
 * Standard input, chunk by chunk as it comes: on a terminal, a line each
 * time Enter is pressed.
 */
export async function* readStdin(): AsyncGenerator<Uint8Array> {
  while (true) {
    const buffer = new Uint8Array(64 * 1024);
    const count = await Deno.stdin.read(buffer);
    if (count === null) return;
    yield buffer.subarray(0, count);
  }
}

/**
 * Standard input as the message, read as it is sent once the connection is
 * open; an empty input (such as /dev/null) sends the lab's message instead.
 * Reading only after connecting means a pipe that stays open and silent
 * cannot keep the client from ever connecting.
 */
export async function* stdinOrDefault(): AsyncGenerator<Uint8Array> {
  let empty = true;
  for await (const chunk of readStdin()) {
    empty = false;
    yield chunk;
  }
  if (empty) yield new TextEncoder().encode(DEFAULT_MESSAGE);
}

/** Standard output as the reply's sink, and a way to end its last line. */
export interface StdoutSink {
  /** Writes the reply as it arrives; whatever arrived before a failure is written. */
  output: ReplySink;
  /** Ends the output's last line on a terminal, like the lab's `print`; piped output stays byte for byte. */
  endLine: () => Promise<void>;
}

/** Standard output, for the reply: streamed as it arrives. */
export function stdoutSink(): StdoutSink {
  let lastByte: number | undefined;
  return {
    output: {
      write(chunk: Uint8Array) {
        lastByte = chunk[chunk.length - 1];
        return writeAll(Deno.stdout, chunk);
      },
    },
    async endLine() {
      if (lastByte !== undefined && lastByte !== 0x0a && Deno.stdout.isTerminal()) {
        await Deno.stdout.write(new Uint8Array([0x0a]));
      }
    },
  };
}
