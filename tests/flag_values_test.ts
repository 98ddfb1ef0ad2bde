/**
 * Flag values as the scripts' parsers read them: what each error offers, and
 * the forms a value may take.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseClientArgs } from "../client.ts";
import { parseServerArgs } from "../server.ts";
import { UsageError } from "../lib/cli/exit.ts";

/** The message of the UsageError that parsing `args` throws. */
function usageError(parse: () => unknown): string {
  try {
    parse();
  } catch (error) {
    assert.ok(error instanceof UsageError, String(error));
    return error.message;
  }
  assert.fail("No usage error");
}

Deno.test("parseClientArgs() offers 0 in a duration's error only where 0 is accepted", () => {
  const duration = usageError(() => parseClientArgs(["-d", "25d"]));
  assert.match(duration, /^Invalid duration "25d": expected a duration such as 500ms, 30s or 2m$/);
  assert.throws(() => parseClientArgs(["-d", "0"]), UsageError);
  assert.match(usageError(() => parseClientArgs(["--timeout", "25d"])), /, 0 for none$/);
});

Deno.test("parseServerArgs() takes --max-per-peer 0, the default, with --unix", () => {
  const parsed = parseServerArgs(["--unix", "/tmp/lab.sock", "--max-per-peer", "0"]);
  assert.ok(typeof parsed === "object");
  assert.equal(parsed.options.path, "/tmp/lab.sock");
  assert.match(
    usageError(() => parseServerArgs(["--unix", "/tmp/lab.sock", "--max-per-peer", "2"])),
    /^Flags "--unix" and "--max-per-peer" cannot be used together$/,
  );
});

Deno.test("parseFlags() takes a short flag's value attached, as getopt does: -p9512", () => {
  const client = parseClientArgs(["-p9512", "-mhi", "-c4", "-d2s"]);
  assert.ok(typeof client === "object");
  assert.deepEqual(
    [client.options.port, client.options.message, client.load?.concurrency, client.load?.duration],
    [9512, "hi", 4, 2000],
  );
  const server = parseServerArgs(["-p9512"]);
  assert.ok(typeof server === "object");
  assert.equal(server.options.port, 9512);
  // A boolean's letters are not a value, and a flag's value is taken whole.
  assert.match(usageError(() => parseServerArgs(["-qx"])), /^Unknown flag "-qx"$/);
  const message = parseClientArgs(["--message", "-p9512"]);
  assert.ok(typeof message === "object");
  assert.equal(message.options.message, "-p9512");
});
