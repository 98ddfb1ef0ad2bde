/**
 * The "this works:" command a permission failure prints: it works from the
 * directory the user typed in, and it is one line with no raw control bytes.
 *
 * @module
 */

import assert from "node:assert/strict";
import { shellQuote } from "../lib/cli/rerun.ts";
import { root } from "./_commands.ts";
import { canSpawn, hasProgram } from "./_process.ts";
import { decoder, encoder, readAll } from "./_sockets.ts";

const hasBash = await hasProgram("bash");

Deno.test({
  name: "shellQuote() spells control characters as $'…' escapes that bash reads back exactly",
  ignore: !hasBash,
  async fn() {
    for (const arg of ["a\nb", "esc \x1b[31mred", "it's a\tb\\c", "del\x7f c1\x85 bidi\u202e"]) {
      const quoted = shellQuote(arg);
      // deno-lint-ignore no-control-regex
      assert.doesNotMatch(quoted, /[\x00-\x1f\x7f-\x9f\u202e]/);
      const { stdout } = await new Deno.Command("bash", {
        args: ["-c", `printf %s ${quoted}`],
      }).output();
      assert.equal(decoder.decode(stdout), arg);
    }
    assert.equal(shellQuote("plain"), "plain");
    assert.equal(shellQuote("it's"), `'it'\\''s'`);
  },
});

Deno.test({
  name:
    "the command deno task client prints from lib/ works from lib/, one line, control bytes escaped",
  ignore: !canSpawn || !hasBash,
  async fn() {
    // All of 127.0.0.0/8 is this machine, and 127.0.0.2 is outside the task's grant;
    // the test may listen on 0.0.0.0 only, which 127.0.0.2 reaches.
    using listener = Deno.listen({ hostname: "0.0.0.0", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    const serving = (async () => {
      const conn = await listener.accept();
      const message = await readAll(conn);
      await conn.write(encoder.encode(`got ${JSON.stringify(decoder.decode(message))}`));
      conn.close();
    })();
    const message = "one\ntwo \x1b[31m";
    const lib = new URL("../lib/", import.meta.url).pathname;
    const refused = await new Deno.Command(Deno.execPath(), {
      args: ["task", "-q", "client", "--host", "127.0.0.2", "-p", String(port), message],
      cwd: lib,
      env: { DENO_NO_UPDATE_CHECK: "1" },
    }).output();
    const stderr = decoder.decode(refused.stderr);
    assert.equal(refused.code, 1, stderr);
    assert.equal(stderr.trimEnd().split("\n").length, 1, stderr);
    assert.ok(!stderr.includes("\x1b"), stderr);
    const [, command] = stderr.match(/; this works: (deno run .*)\n$/) ?? [];
    assert.ok(command?.includes(` ${root}client.ts `), stderr);
    const rerun = await new Deno.Command("bash", {
      args: ["-c", command.replace(/^deno /, `"${Deno.execPath()}" `)],
      cwd: lib,
    }).output();
    assert.equal(rerun.code, 0, decoder.decode(rerun.stderr));
    assert.equal(decoder.decode(rerun.stdout), `got ${JSON.stringify(message)}`);
    await serving;
  },
});
