/**
 * Flag values as the scripts' parsers read them: what each error offers, and
 * the forms a value may take.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseClientArgs } from "../client.ts";
import { parseServerArgs } from "../server.ts";
import { UsageError } from "../lib/_cli.ts";

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
