/**
 * Access rules that name nobody: a list that names no address must never
 * open the server to everyone.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createAccessPolicy, serve } from "../lib/mod.ts";
import { canSpawn } from "./_process.ts";
import { scriptCommand } from "./_scripts.ts";
import { decoder } from "./_sockets.ts";

const EMPTY_LISTS = ["", ",", " ", " , ,"];

Deno.test("createAccessPolicy() and serve() reject a rule list that names no address", () => {
  for (const rules of EMPTY_LISTS) {
    for (const name of ["allow", "deny"] as const) {
      assert.throws(
        () => createAccessPolicy({ [name]: [rules] }),
        (error: unknown) =>
          error instanceof TypeError && /names no address or range/.test(error.message),
        `${name} ${JSON.stringify(rules)}`,
      );
      assert.throws(() => serve({ hostname: "127.0.0.1", port: 0, [name]: [rules] }), TypeError);
    }
  }
  // One empty item among real ones is a harmless typo, still accepted.
  assert.equal(createAccessPolicy({ allow: ["10.0.0.1,"] }).refusal("10.0.0.1"), undefined);
});

Deno.test({
  name: 'server.ts --allow "" (and ",", " ", --deny alike) is a usage error, exit 2',
  ignore: !canSpawn,
  async fn() {
    for (const rules of EMPTY_LISTS) {
      for (const flag of ["--allow", "--deny"]) {
        // Without the check the server would listen and serve everyone:
        // the timeout ends it, and the exit code fails the test.
        const output = await scriptCommand(
          "server.ts",
          ["--host", "127.0.0.1", "--port", "0", flag, rules],
          { signal: AbortSignal.timeout(10_000) },
        ).output();
        const { code } = output;
        const stderr = decoder.decode(output.stderr);
        assert.equal(code, 2, `${flag} ${JSON.stringify(rules)}: ${stderr}`);
        assert.match(
          stderr,
          new RegExp(`^error: ${flag}: Invalid rule list ".*": it names no address or range\\n`),
        );
        assert.doesNotMatch(stderr, /Listening|\s+at /);
      }
    }
  },
});
