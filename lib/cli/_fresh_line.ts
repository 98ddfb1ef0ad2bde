/**
 * Where a note to a person typing begins: at the start of a line of its
 * own, also when they had typed half a line the terminal shows but has not
 * sent. The program cannot know where the cursor is, so it writes as many
 * spaces as the terminal is wide: from the first column they fill the line
 * without wrapping, from any later one they wrap to the next line; a
 * carriage return and an erase then leave the cursor at the start of a clear
 * line, with no blank line in the first case. (zsh's PROMPT_SP does this.)
 *
 * @module
 */

/** The text to write before a note on stderr so that it starts a line; "" if not a terminal. */
export function freshLine(): string {
  if (!Deno.stderr.isTerminal()) return "";
  let columns = 0;
  try {
    columns = Deno.consoleSize().columns;
  } catch { /* no size known: a newline always works */ }
  return columns > 0 ? `${" ".repeat(columns)}\r\x1b[K` : "\n";
}
