/**
 * HAProxy in front of our server, sending the PROXY protocol v1 and v2: the
 * server must log the client's own address, not HAProxy's.
 *
 * @module
 */

import assert from "node:assert/strict";
import { decoder, hasProgram, LineReader, runScript, startServer } from "./_helpers.ts";

const noHaproxy = !(await hasProgram("haproxy"));

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    return listener.addr.port;
  } finally {
    listener.close();
  }
}

for (const sendProxy of ["send-proxy", "send-proxy-v2"]) {
  Deno.test({
    name: `server.ts --proxy-protocol behind HAProxy (${sendProxy}) logs the real client`,
    ignore: noHaproxy,
    async fn() {
      await using server = await startServer(["--proxy-protocol"]);
      const front = freePort();
      const config = [
        "global",
        "  maxconn 100",
        "defaults",
        "  mode tcp",
        "  timeout connect 5s",
        "  timeout client 10s",
        "  timeout server 10s",
        "frontend lab",
        `  bind 127.0.0.1:${front}`,
        "  default_backend ours",
        "backend ours",
        `  server ours 127.0.0.1:${server.port} ${sendProxy}`,
      ].join("\n");
      const haproxy = new Deno.Command("sh", {
        // The configuration goes in on stdin: no file to write or clean up.
        args: ["-c", "exec haproxy -f /dev/stdin -db -V"],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const writer = haproxy.stdin.getWriter();
      await writer.write(new TextEncoder().encode(config + "\n"));
      await writer.close();
      const output = new LineReader(haproxy.stdout);
      const errors = new Response(haproxy.stderr).text();
      try {
        // Printed once its sockets are bound and it starts polling them.
        await output.until((line) => line.startsWith("Using epoll()"), 10_000);
        const client = await runScript("client.ts", ["--port", String(front), "--json"]);
        assert.equal(client.code, 0, client.stderr);
        const result = JSON.parse(decoder.decode(client.stdout));
        assert.equal(result.reply, "Thanks for connecting");
        const logged = await server.stdout.until((line) => line.startsWith("Got connection"));
        // The client's own address and port, as the client saw them.
        assert.equal(logged, `Got connection from ${result.local}`);
        assert.equal(await server.stdout.next(), "Hai from client");
      } finally {
        haproxy.kill("SIGTERM");
        await Promise.all([haproxy.status, output.rest(), errors]);
      }
    },
  });
}
