/**
 * Access rules as `server.ts` takes them: a list that names no address must
 * never open the server to everyone; `--allow` refuses, `--deny` wins, and
 * a named source address is admitted.
 *
 * @module
 */

import assert from "node:assert/strict";
import { createAccessPolicy, sendMessage, serve } from "../lib/mod.ts";
import { canSpawn, hasProgram } from "./_process.ts";
import { scriptCommand, startServer } from "./_scripts.ts";
import { connect, decoder, encoder, readAll, writeAll } from "./_sockets.ts";

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

Deno.test({
  name: "--allow 127.0.0.2/32 refuses a client from 127.0.0.1, unanswered and logged",
  ignore: !canSpawn,
  async fn() {
    await using server = await startServer(["--allow", "127.0.0.2/32"]);
    await using conn = await connect(server.port);
    await writeAll(conn, encoder.encode("let me in")).catch(() => {});
    assert.equal((await readAll(conn).catch(() => new Uint8Array())).length, 0);
    assert.match(
      await server.stdout.until((line) => line.includes("refused")),
      /^127\.0\.0\.1:\d+: refused, not in --allow$/,
    );
    const { lines } = await server.stop();
    assert.match(lines.at(-1)!, /1 refused/);
  },
});

Deno.test({
  name: "--deny wins over --allow, for IPv4 and IPv6 clients",
  ignore: !canSpawn,
  async fn() {
    await using server = await startServer([
      "--host",
      "::",
      "--allow",
      "127.0.0.0/8,::1",
      "--deny",
      "127.0.0.1",
    ]);
    const client = await sendMessage({ hostname: "::1", port: server.port });
    assert.equal(decoder.decode(client.reply), "Thanks for connecting");
    await using conn = await connect(server.port, "127.0.0.1");
    assert.equal((await readAll(conn).catch(() => new Uint8Array())).length, 0);
    assert.match(
      await server.stdout.until((line) => line.includes("refused")),
      /: refused, denied by 127\.0\.0\.1$/,
    );
  },
});

Deno.test({
  name: "--allow admits a client whose source address it names",
  ignore: !(await hasProgram("python3")),
  async fn() {
    await using server = await startServer(["--allow", "127.0.0.2/32"]);
    // Deno cannot choose a source address; Python can bind 127.0.0.2.
    const { success, stdout, stderr } = await new Deno.Command("python3", {
      args: [
        "-c",
        `
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), source_address=("127.0.0.2", 0))
s.sendall(b"Hai from client")
print(s.recv(1024).decode(), end="")
`,
        String(server.port),
      ],
    }).output();
    assert.ok(success, decoder.decode(stderr));
    assert.equal(decoder.decode(stdout), "Thanks for connecting");
    assert.match(
      await server.stdout.until((line) => line.startsWith("Got connection")),
      /from 127\.0\.0\.2:\d+$/,
    );
  },
});
