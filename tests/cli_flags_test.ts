/**
 * The scripts' flag parser, `parseFlags`, and the `--` that `deno task`
 * passes on, `withoutTaskDashes`: what each form of a flag parses to, and
 * the one-line `UsageError` for each mistake.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type FlagSpec, parseFlags, withoutTaskDashes } from "../lib/cli/flags.ts";
import { UsageError } from "../lib/cli/exit.ts";

const specs: Record<string, FlagSpec> = {
  port: { type: "string", short: "p" },
  timeout: { type: "string" },
  echo: { type: "boolean", short: "e" },
  allow: { type: "string", multiple: true },
};

/** Asserts that parsing fails with a `UsageError` whose message is exactly `message`. */
function assertUsageError(args: string[], message: string, allowPositionals = true): void {
  assert.throws(
    () => parseFlags(args, specs, allowPositionals),
    (error: unknown) => {
      assert.ok(error instanceof UsageError, `not a UsageError: ${error}`);
      assert.equal(error.message, message);
      return true;
    },
  );
}

Deno.test("parseFlags() reads --name value, --name=value and -n value alike", () => {
  for (
    const args of [["--port", "9000"], ["--port=9000"], ["-p", "9000"], ["-p=9000"]]
  ) {
    assert.deepEqual(parseFlags(args, specs, false), {
      values: { port: "9000" },
      positionals: [],
    }, args.join(" "));
  }
});

Deno.test("parseFlags() keeps what follows the first = whole, and an empty value as empty", () => {
  assert.equal(parseFlags(["--timeout=a=b"], specs, false).values.timeout, "a=b");
  assert.equal(parseFlags(["--timeout="], specs, false).values.timeout, "");
});

Deno.test("parseFlags() takes the next argument as a value even when it starts with a dash", () => {
  // So that `--timeout -1s` is reported as an invalid timeout, not a missing one.
  assert.deepEqual(parseFlags(["--timeout", "-1s"], specs, false).values, { timeout: "-1s" });
  assert.deepEqual(parseFlags(["--port", "--echo"], specs, false).values, { port: "--echo" });
});

Deno.test("parseFlags() sets a boolean flag, long or short, and refuses a value for it", () => {
  assert.deepEqual(parseFlags(["--echo"], specs, false).values, { echo: true });
  assert.deepEqual(parseFlags(["-e"], specs, false).values, { echo: true });
  assertUsageError(["--echo=yes"], 'Flag "--echo" takes no value');
  // The short form is named by its long name, the one --help lists first.
  assertUsageError(["-e=1"], 'Flag "--echo" takes no value');
  assertUsageError(["--echo="], 'Flag "--echo" takes no value');
});

Deno.test("parseFlags() leaves a flag it was not given undefined", () => {
  const { values } = parseFlags(["--echo"], specs, false);
  assert.equal(values.port, undefined);
  assert.ok(!("port" in values));
});

Deno.test("parseFlags() names an unknown flag as typed, without its value", () => {
  assertUsageError(["--bogus"], 'Unknown flag "--bogus"');
  assertUsageError(["--bogus=1"], 'Unknown flag "--bogus"');
  assertUsageError(["-x"], 'Unknown flag "-x"');
  // A long name with one dash is not its short form.
  assertUsageError(["-port", "1"], 'Unknown flag "-port"');
  assertUsageError(["---port", "1"], 'Unknown flag "---port"');
});

Deno.test("parseFlags() says which flag needs a value when none follows", () => {
  assertUsageError(["--port"], 'Flag "--port" needs a value');
  assertUsageError(["-p"], 'Flag "--port" needs a value');
  assertUsageError(["--echo", "--timeout"], 'Flag "--timeout" needs a value');
});

Deno.test("parseFlags() lets the last of a repeated flag win, and collects a multiple one", () => {
  assert.equal(parseFlags(["-p", "1", "--port=2", "--port", "3"], specs, false).values.port, "3");
  assert.deepEqual(
    parseFlags(["--allow", "10.0.0.0/8", "--allow=::1", "--allow", "127.0.0.1"], specs, false)
      .values.allow,
    ["10.0.0.0/8", "::1", "127.0.0.1"],
  );
  // Once is still a list.
  assert.deepEqual(parseFlags(["--allow", "::1"], specs, false).values.allow, ["::1"]);
});

Deno.test("parseFlags() keeps positionals in order, among flags, with - as one of them", () => {
  assert.deepEqual(parseFlags(["hello", "-p", "1", "there", "-"], specs, true), {
    values: { port: "1" },
    positionals: ["hello", "there", "-"],
  });
});

Deno.test("parseFlags() refuses a positional when the script takes none", () => {
  assertUsageError(["stray"], 'Unexpected argument "stray"', false);
  assertUsageError(["--echo", "-"], 'Unexpected argument "-"', false);
});

Deno.test("parseFlags() takes everything after -- as positionals, dashes and all", () => {
  assert.deepEqual(parseFlags(["-p", "1", "--", "-x", "--port", "--"], specs, true), {
    values: { port: "1" },
    positionals: ["-x", "--port", "--"],
  });
  // A -- at the end is nothing, even where positionals are refused.
  assert.deepEqual(parseFlags(["--echo", "--"], specs, false), {
    values: { echo: true },
    positionals: [],
  });
  assertUsageError(["--", "-x"], 'Unexpected argument "-x"', false);
});

Deno.test("withoutTaskDashes() drops only the -- that deno task passes on", () => {
  assert.deepEqual(withoutTaskDashes(["--", "--port", "1"]), ["--port", "1"]);
  assert.deepEqual(withoutTaskDashes(["--port", "1"]), ["--port", "1"]);
  // A second -- is the user's, and stays.
  assert.deepEqual(withoutTaskDashes(["--", "--", "-x"]), ["--", "-x"]);
  assert.deepEqual(withoutTaskDashes(["--port", "9000", "--", "-x"]), [
    "--port",
    "9000",
    "--",
    "-x",
  ]);
  // After the task's own flag: `client.ts --load -- …`, `server.ts --workers 2 -- …`.
  const load = { name: "--load", words: 1 } as const;
  assert.deepEqual(withoutTaskDashes(["--load", "--", "-c", "8"], load), ["--load", "-c", "8"]);
  const workers = { name: "--workers", words: 2 } as const;
  assert.deepEqual(withoutTaskDashes(["--workers", "2", "--", "--json"], workers), [
    "--workers",
    "2",
    "--json",
  ]);
  // Without the task's flag first, a -- in that place is the user's.
  assert.deepEqual(withoutTaskDashes(["--json", "--", "x"], load), ["--json", "--", "x"]);
});
