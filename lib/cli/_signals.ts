/**
 * One Ctrl-C is one press, however many SIGINTs it turns into.
 *
 * Under `deno task`, a Ctrl-C reaches the script twice about a millisecond
 * apart: once from the terminal, which signals its whole foreground process
 * group, and once more forwarded by `deno task` itself. Taken as two presses,
 * the second one stopped the process at once, with no drain and no report.
 *
 * @module
 */

/**
 * How long after a stop signal a repeat still counts as the same press, in
 * milliseconds. The duplicate arrives within a few milliseconds, tens on a
 * loaded machine; a person who presses again because the first press seems
 * to do nothing reacts after 250 ms or more. A second press within this
 * window is absorbed, and the next one still stops at once.
 */
export const SAME_PRESS_MS = 250;

/**
 * A signal listener that calls `stop` on the first stop signal and `force`
 * on a later one, ignoring repeats within `windowMs` of the first.
 *
 * @example
 * ```ts ignore
 * const onSignal = stopListener(() => server.shutdown(), () => Deno.exit(130));
 * Deno.addSignalListener("SIGINT", onSignal);
 * ```
 */
export function stopListener(
  stop: () => void,
  force: () => void,
  windowMs: number = SAME_PRESS_MS,
): () => void {
  let firstAt: number | undefined;
  return () => {
    const now = performance.now();
    if (firstAt === undefined) {
      firstAt = now;
      stop();
    } else if (now - firstAt >= windowMs) {
      force();
    }
  };
}
