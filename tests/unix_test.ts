/**
 * Unix domain sockets: `--unix PATH` on both sides, with permissions for
 * that path only; stale, live and foreign files at the path.
 *
 * @module
 */

import assert from "node:assert/strict";
import { canSpawn, LineReader } from "./_process.ts";
import { scriptCommand } from "./_scripts.ts";
import { decoder } from "./_sockets.ts";

/** A fresh path and the permissions for it alone; removed when disposed. */
function socketPath() {
  const path = `/tmp/tcp-lab-test-${crypto.randomUUID()}.sock`;
  return {
    path,
    permissions: [`--allow-read=${path}`, `--allow-write=${path}`, `--allow-net=unix:${path}`],
    async [Symbol.asyncDispose]() {
      await new Deno.Command("rm", { args: ["-f", path] }).output();
    },
  };
}

function script(name: "server.ts" | "client.ts", permissions: string[], args: string[]) {
  return scriptCommand(name, args, { permissions });
}

async function startUnixServer(socket: { path: string; permissions: string[] }) {
  const child = script("server.ts", socket.permissions, ["--unix", socket.path]).spawn();
  const stdout = new LineReader(child.stdout);
  const stderr = new Response(child.stderr).text();
  const listening = await stdout.until((line) => line.startsWith("Listening on"));
  assert.equal(listening, `Listening on unix:${socket.path}`);
  return {
    child,
    stdout,
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      await Promise.all([child.status, stdout.rest(), stderr]);
    },
  };
}

Deno.test({
  name: "server.ts and client.ts talk over a Unix socket with the lab's exchange",
  ignore: !canSpawn,
  async fn() {
    await using socket = socketPath();
    await using server = await startUnixServer(socket);
    const client = await script("client.ts", socket.permissions, ["--unix", socket.path])
      .output();
    assert.equal(client.code, 0, decoder.decode(client.stderr));
    assert.equal(decoder.decode(client.stdout), "Thanks for connecting");
    // Our client's socket has no name: the server's own path is not the peer's.
    assert.equal(
      await server.stdout.until((line) => line.startsWith("Got connection")),
      `Got connection from unnamed peer on unix:${socket.path}`,
    );
    assert.equal(await server.stdout.next(), "Hai from client");
  },
});

Deno.test({
  name: "server.ts replaces a stale socket left by a dead server, refuses a live one",
  ignore: !canSpawn,
  async fn() {
    await using socket = socketPath();
    {
      await using dead = await startUnixServer(socket);
      dead.child.kill("SIGKILL"); // dies without removing its socket file
      await dead.child.status;
    }
    const stat = await new Deno.Command("test", { args: ["-S", socket.path] }).output();
    assert.ok(stat.success, "the dead server left its socket file");
    await using live = await startUnixServer(socket);
    const second = await script("server.ts", socket.permissions, ["--unix", socket.path])
      .output();
    assert.equal(second.code, 1);
    assert.match(
      decoder.decode(second.stderr),
      new RegExp(`^error: Cannot listen on "unix:${socket.path}": a running server is using it\\n`),
    );
    void live;
  },
});

Deno.test({
  name: "server.ts refuses a path that is not a socket",
  ignore: !canSpawn,
  async fn() {
    await using socket = socketPath();
    await new Deno.Command("sh", { args: ["-c", `echo keep me > '${socket.path}'`] }).output();
    const server = await script("server.ts", socket.permissions, ["--unix", socket.path])
      .output();
    assert.equal(server.code, 1);
    assert.match(decoder.decode(server.stderr), /it exists and is not a socket\n/);
    const kept = await new Deno.Command("cat", { args: [socket.path] }).output();
    assert.equal(decoder.decode(kept.stdout), "keep me\n", "the file was left alone");
  },
});
