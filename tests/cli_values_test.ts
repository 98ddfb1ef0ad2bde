/**
 * The parsers of flag values: ports, sizes, durations and counts. Each
 * accepts the forms `--help` shows, refuses anything else with a one-line
 * `UsageError` naming the flag and the value, and keeps to its bounds.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseCount, parseDuration, parsePort, parseSize } from "../lib/cli/flags.ts";
import { UsageError } from "../lib/cli/exit.ts";

/** Asserts `parse` throws a `UsageError` whose message matches `pattern`. */
function assertRefused(parse: () => unknown, pattern: RegExp): void {
  assert.throws(parse, (error: unknown) => {
    assert.ok(error instanceof UsageError, `not a UsageError: ${error}`);
    assert.match(error.message, pattern);
    return true;
  });
}

const MAX_TIMER_MS = 2 ** 31 - 1;

Deno.test("parsePort() takes a whole number from the minimum to 65535", () => {
  assert.equal(parsePort("0", 0), 0);
  assert.equal(parsePort("1", 1), 1);
  assert.equal(parsePort("8080", 1), 8080);
  assert.equal(parsePort("65535", 1), 65535);
  assert.equal(parsePort("080", 1), 80);
});

Deno.test("parsePort() refuses 0 where a real port is needed, and anything past 65535", () => {
  assertRefused(
    () => parsePort("0", 1),
    /^Invalid port "0": expected a whole number from 1 to 65535$/,
  );
  assertRefused(() => parsePort("65536", 0), /^Invalid port "65536": .* from 0 to 65535$/);
  for (const text of ["", "abc", "-1", "+80", " 80", "80 ", "1e3", "80.0", "0x50"]) {
    assertRefused(
      () => parsePort(text, 0),
      new RegExp(`^Invalid port "${text.replace("+", "\\+")}"`),
    );
  }
});

Deno.test("parseSize() reads bytes, binary and decimal units, any case", () => {
  const cases: [string, number][] = [
    ["1", 1],
    ["4096", 4096],
    ["10b", 10],
    ["64KiB", 64 * 1024],
    ["64k", 64 * 1024],
    ["1kb", 1000],
    ["1MB", 1_000_000],
    ["1MiB", 1024 ** 2],
    ["16m", 16 * 1024 ** 2],
    ["1GB", 1000 ** 3],
    ["4GiB", 4 * 1024 ** 3],
    ["2g", 2 * 1024 ** 3],
    [" 2 KiB ", 2048],
    ["1.5k", 1536],
    ["1.9", 1],
  ];
  for (const [text, bytes] of cases) assert.equal(parseSize(text, "size"), bytes, text);
});

Deno.test("parseSize() refuses nothing, fractions of a byte, unknown units and bad numbers", () => {
  for (const text of ["0", "0.5", "0KiB", "", "abc", "-1", "1TB", "1 k b", "KiB", "1e3", "1,024"]) {
    assertRefused(
      () => parseSize(text, "maximum message size"),
      new RegExp(
        `^Invalid maximum message size "${text}": expected a size of at least 1 byte, ` +
          `such as 4096, 64KiB or 1MiB$`,
      ),
    );
  }
});

Deno.test("parseSize() refuses a size past what a number holds exactly", () => {
  assert.equal(parseSize(String(Number.MAX_SAFE_INTEGER), "size"), Number.MAX_SAFE_INTEGER);
  assertRefused(() => parseSize("9007199254740993", "size"), /^Invalid size "9007199254740993"/);
  assertRefused(() => parseSize("10000000GiB", "size"), /^Invalid size "10000000GiB"/);
});

Deno.test("parseDuration() reads ms, s, m and h, and a bare number as seconds", () => {
  const cases: [string, number][] = [
    ["0", 0],
    ["500ms", 500],
    ["30s", 30_000],
    ["2m", 120_000],
    ["1h", 3_600_000],
    ["1.5", 1500],
    ["1.5s", 1500],
    ["0.0004s", 0],
    ["0.6ms", 1],
    ["2M", 120_000],
    ["10MS", 10],
    [" 30 s ", 30_000],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text, "timeout"), ms, text);
});

Deno.test("parseDuration() refuses a negative, unknown or missing amount", () => {
  for (const text of ["", "soon", "-1s", "1d", "1w", "s", "1.s", ".5s", "1e3", "1 2s"]) {
    assertRefused(
      () => parseDuration(text, "idle timeout"),
      new RegExp(
        `^Invalid idle timeout "${text}": expected a duration such as 500ms, 30s or 2m, 0 for none$`,
      ),
    );
  }
});

Deno.test("parseDuration() stops at the longest timer, about 24 days", () => {
  // Timers fire at once past 2^31 - 1 ms: a longer timeout would be none at all.
  assert.equal(parseDuration(`${MAX_TIMER_MS}ms`, "timeout"), MAX_TIMER_MS);
  assert.equal(parseDuration("596h", "timeout"), 596 * 3_600_000);
  for (const text of [`${MAX_TIMER_MS + 1}ms`, "597h", "2147483.648s", "100000000m"]) {
    assertRefused(
      () => parseDuration(text, "timeout"),
      new RegExp(`^Invalid timeout "${text}": at most 24 days \\(2147483647 ms\\)$`),
    );
  }
});

Deno.test("parseCount() takes a whole number of at least the minimum", () => {
  assert.equal(parseCount("0", "count", 0), 0);
  assert.equal(parseCount("1", "count", 1), 1);
  assert.equal(parseCount("10000", "connections", 1), 10_000);
  assert.equal(parseCount("007", "count", 1), 7);
});

Deno.test("parseCount() refuses less than the minimum, fractions, signs and huge numbers", () => {
  assertRefused(
    () => parseCount("0", "connections", 1),
    /^Invalid connections "0": expected a whole number of at least 1$/,
  );
  assertRefused(() => parseCount("4", "workers", 5), /^Invalid workers "4": .* at least 5$/);
  for (const text of ["", "1.5", "-1", "+1", "1e3", "one", " 1", "99999999999999999999"]) {
    assertRefused(
      () => parseCount(text, "count", 0),
      new RegExp(`^Invalid count "${text.replace("+", "\\+")}": expected a whole number`),
    );
  }
});
