/**
 * `--host` is checked as the command line is parsed: a malformed one is a
 * usage error (one line, exit code 2) in the server, the client, load mode
 * and `-i`, never an uncaught URIError from the permission check.
 *
 * @module
 */

import assert from "node:assert/strict";
import { parseHost } from "../lib/cli/_host.ts";
import { addressNeeds, missingPermission } from "../lib/cli/permissions.ts";
import { UsageError } from "../lib/cli/exit.ts";
import { canSpawn } from "./_process.ts";
import { runScript } from "./_scripts.ts";

const MALFORMED = ["a b", "127.0.0.1.", "[::1", "x@y", "%", "ex..com", "127.0.0.1:80", "1.2.3"];

Deno.test("parseHost() takes names and IP literals, with brackets for IPv6 only", () => {
  for (
    const host of ["localhost", "example.com", "my_host.lan", "127.0.0.1", "::1", "fe80::1%eth0"]
  ) {
    assert.equal(parseHost(host), host);
  }
  assert.equal(parseHost("[::1]"), "::1");
  for (const host of [...MALFORMED, "", "[]", "[a.b]", "256.0.0.1", "-a.com", "::1%"]) {
    assert.throws(() => parseHost(host), UsageError, host);
  }
  assert.throws(() => parseHost("127.0.0.1:80"), /give the port with --port/);
});

Deno.test({
  name: "missingPermission() answers a host Deno cannot read with a usage error, not a URIError",
  // Deno reads the host only to compare it with a scoped grant, as the tasks give.
  permissions: { net: ["127.0.0.1"] },
  fn() {
    assert.throws(() => missingPermission(addressNeeds("a b", 9805)), UsageError);
  },
});

Deno.test({
  name: "server.ts, client.ts, load mode and -i refuse a malformed --host in one line, exit 2",
  ignore: !canSpawn,
  async fn() {
    const modes: ["server.ts" | "client.ts", string[]][] = [
      ["client.ts", ["hi"]],
      ["client.ts", ["--load", "-d", "1s"]],
      ["client.ts", ["-i"]],
      ["server.ts", []],
    ];
    await Promise.all(
      modes.flatMap(([script, args]) =>
        MALFORMED.map(async (host) => {
          const { code, stderr } = await runScript(script, [
            "--host",
            host,
            "--port",
            "9805",
            ...args,
          ], {
            permissions: ["--allow-net=127.0.0.1"],
          });
          const what = `${script} ${args.join(" ")} --host ${host}: ${stderr}`;
          assert.equal(code, 2, what);
          assert.match(stderr, /^error: Invalid host "[^\n]*"[^\n]*\nUsage: [^\n]*\n$/, what);
        })
      ),
    );
  },
});
