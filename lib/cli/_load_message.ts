/**
 * The message load mode sends: every cycle sends the same bytes, so they are
 * all read before the first cycle. Standard input is read only when asked
 * for with `-` as the message, up to a bound and within the run's duration:
 * a pipe that never ends (`yes`) or stays open and silent (CI, ssh) would
 * otherwise hold the run back for ever and grow memory without bound.
 *
 * @module
 */

import { DEFAULT_MESSAGE } from "../client/options.ts";
import { UsageError } from "./exit.ts";

/**
 * The most load mode takes from standard input: the server's default
 * `--max-message`, past which it would refuse every cycle's message anyway.
 */
export const MAX_LOAD_STDIN_BYTES = 1024 * 1024;

/**
 * The bytes each cycle sends. `message` is what the command line gave; the
 * stream a piped stdin would be for a single exchange is not read (load mode
 * sends the default message then), and `"-"` reads standard input to its
 * end, within `withinMs` if given.
 */
export async function loadMessage(
  message: string | Uint8Array | AsyncIterable<Uint8Array> | undefined,
  withinMs?: number,
): Promise<Uint8Array> {
  if (message instanceof Uint8Array) return message;
  if (message !== "-") {
    return new TextEncoder().encode(typeof message === "string" ? message : DEFAULT_MESSAGE);
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    if (withinMs === undefined) return;
    timer = setTimeout(
      () =>
        reject(
          new Error(
            `Standard input did not end within ${withinMs / 1000}s: load mode reads the whole ` +
              `message (-) before the first cycle`,
          ),
        ),
      withinMs,
    );
  });
  try {
    return await Promise.race([readStdin(), deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function readStdin(): Promise<Uint8Array> {
  const whole = new Uint8Array(MAX_LOAD_STDIN_BYTES + 1);
  let length = 0;
  while (length < whole.length) {
    const count = await Deno.stdin.read(whole.subarray(length));
    if (count === null) return whole.slice(0, length);
    length += count;
  }
  throw new UsageError(
    `Standard input is over ${MAX_LOAD_STDIN_BYTES} bytes: load mode sends at most 1 MiB a cycle`,
  );
}
