/**
 * The README's "Read the code" section points learners at line ranges. This
 * keeps each range on the function it names, so a change that moves the code
 * also has to move the pointer.
 *
 * @module
 */

import assert from "node:assert/strict";
import readme from "../README.md" with { type: "text" };
// Imported as text, so the test needs no read permission.
import clientSource from "../lib/client.ts" with { type: "text" };
import connectionSource from "../lib/connection.ts" with { type: "text" };
import serverSource from "../lib/server.ts" with { type: "text" };

const SOURCES: Record<string, string> = {
  "lib/client.ts": clientSource,
  "lib/connection.ts": connectionSource,
  "lib/server.ts": serverSource,
};

/** `[… lines A-B](lib/x.ts#LA-LB)` and the first `name()` in backticks after it. */
const RANGE_LINK = /\]\((lib\/[\w/]+\.ts)#L(\d+)-L(\d+)\)[^`]*`#?(\w+)\(\)`/g;

Deno.test("README's Read the code ranges start at the function they name and end at its brace", () => {
  const links = [...readme.matchAll(RANGE_LINK)];
  assert.ok(links.length >= 3, `expected the three lab pieces, found ${links.length}`);
  for (const [, path, from, to, name] of links) {
    assert.ok(path in SOURCES, `${path} is linked by range: import it above`);
    const lines = SOURCES[path].split("\n");
    const first = lines[Number(from) - 1] ?? "";
    const last = lines[Number(to) - 1] ?? "";
    assert.match(first, new RegExp(`\\b${name}\\(`), `${path}:${from} should begin ${name}()`);
    const indent = first.match(/^ */)![0];
    assert.equal(last, `${indent}}`, `${path}:${to} should close ${name}()`);
    const body = lines.slice(Number(from), Number(to) - 1);
    assert.ok(
      !body.includes(`${indent}}`),
      `${path}:${from}-${to} should not close ${name}() before its last line`,
    );
  }
});
