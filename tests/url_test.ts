/**
 * Running straight from a URL: the repository served over HTTP on loopback
 * as `text/plain` (as raw.githubusercontent.com serves it), and the scripts
 * run from there with nothing but network and import permissions.
 *
 * @module
 */

import assert from "node:assert/strict";
import { canSpawn, LineReader } from "./_process.ts";
import { decoder } from "./_sockets.ts";

const root = new URL("../", import.meta.url).pathname;

Deno.test({
  name: "server.ts and client.ts run from a URL with the lab's defaults",
  ignore: !canSpawn,
  async fn() {
    const files = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        "--allow-net=127.0.0.1",
        `--allow-read=${root}`,
        `${root}tests/_file_server.ts`,
        root.replace(/\/$/, ""),
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const filesOut = new LineReader(files.stdout);
    const origin = `http://${
      (await filesOut.until((line) => line.startsWith("Listening on"))).split(" ").pop()
    }`;
    // --no-config: what a user gets from a URL has no deno.json around it.
    const run = (script: string, args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--no-prompt",
          "--no-config",
          `--allow-import=${origin.slice("http://".length)}`,
          "--allow-net=127.0.0.1",
          `${origin}/${script}`,
          ...args,
        ],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      });
    const server = run("server.ts", ["--host", "127.0.0.1", "--port", "0"]).spawn();
    const serverOut = new LineReader(server.stdout);
    try {
      const listening = await serverOut.until((line) => line.startsWith("Listening on"));
      const port = listening.split(":").pop()!;
      const client = await run("client.ts", ["--port", port]).output();
      assert.equal(client.code, 0, decoder.decode(client.stderr));
      assert.equal(decoder.decode(client.stdout), "Thanks for connecting");
      assert.match(
        await serverOut.until((line) => line.startsWith("Got connection")),
        /^Got connection from 127\.0\.0\.1:\d+$/,
      );
      assert.equal(await serverOut.next(), "Hai from client");
      const version = await run("client.ts", ["--version"]).output();
      assert.match(decoder.decode(version.stdout), /^\d+\.\d+\.\d+\n$/);
    } finally {
      server.kill("SIGTERM");
      files.kill("SIGTERM");
      await Promise.all([server.status, files.status, serverOut.rest(), filesOut.rest()]);
      await server.stderr.cancel();
    }
  },
});
