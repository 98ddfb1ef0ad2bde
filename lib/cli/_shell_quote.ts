/**
 * Quoting for a shell an argument that holds control characters: bash's,
 * zsh's and ksh's `$'…'`, which spells them as escapes, so a printed
 * command stays one line and carries no raw control bytes to the terminal.
 *
 * @module
 */

/**
 * C0 and C1 controls, DEL, line and paragraph separators, and the bidi
 * controls that reorder what a terminal shows.
 */
// deno-lint-ignore no-control-regex
export const CONTROL = /[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

const NAMED: Record<string, string> = {
  "\n": "\\n",
  "\t": "\\t",
  "\r": "\\r",
  "\x1b": "\\E",
  "\\": "\\\\",
  "'": "\\'",
};

/** `$'…'`: controls as `\n`, `\xHH` or `\uHHHH`, backslash and quote escaped. */
export function ansiCQuote(arg: string): string {
  let quoted = "";
  for (const char of arg) {
    const code = char.codePointAt(0)!;
    if (NAMED[char]) quoted += NAMED[char];
    else if (code < 0x20 || code === 0x7f) quoted += `\\x${code.toString(16).padStart(2, "0")}`;
    else if (CONTROL.test(char)) quoted += `\\u${code.toString(16).padStart(4, "0")}`;
    else quoted += char;
  }
  return `$'${quoted}'`;
}
