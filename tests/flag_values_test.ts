/**
 * Flag values as the scripts' parsers read them: what each error offers, and
 * the forms a value may take.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseClientArgs } from "../client.ts";
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
