/**
 * HAProxy in front of our server, sending the PROXY protocol v1 and v2, in
 * clear text and with `ssl`: the server must log the client's own address,
 * not HAProxy's.
 *
 * @module
 */

import assert from "node:assert/strict";
import { startHaproxy } from "./_peers.ts";
import { hasProgram } from "./_process.ts";
import { runScript, startServer } from "./_scripts.ts";
import { decoder, encoder, readAll, writeAll } from "./_sockets.ts";
import { makeSelfSigned, startTlsServer } from "./_tls.ts";

const noHaproxy = !(await hasProgram("haproxy"));
const noTls = !(await hasProgram("openssl")) || !(await hasProgram("python3"));

for (const sendProxy of ["send-proxy", "send-proxy-v2"]) {
  Deno.test({
    name: `server.ts --proxy-protocol behind HAProxy (${sendProxy}) logs the real client`,
    ignore: noHaproxy,
    async fn() {
      await using server = await startServer(["--proxy-protocol"]);
      await using haproxy = await startHaproxy(`127.0.0.1:${server.port} ${sendProxy}`);
      const client = await runScript("client.ts", ["--port", String(haproxy.port), "--json"]);
      assert.equal(client.code, 0, client.stderr);
      const result = JSON.parse(decoder.decode(client.stdout));
      assert.equal(result.reply, "Thanks for connecting");
      const logged = await server.stdout.until((line) => line.startsWith("Got connection"));
      // The client's own address and port, as the client saw them.
      assert.equal(logged, `Got connection from ${result.local}`);
      assert.equal(await server.stdout.next(), "Hai from client");
    },
  });
}

for (const sendProxy of ["send-proxy", "send-proxy-v2"]) {
  Deno.test({
    name:
      `server.ts --proxy-protocol --cert behind HAProxy (${sendProxy} ssl) logs the real client`,
    ignore: noTls || noHaproxy,
    async fn() {
      await using certificate = await makeSelfSigned();
      await using server = await startTlsServer(certificate.dir, ["--proxy-protocol"]);
      await using haproxy = await startHaproxy(
        `127.0.0.1:${server.port} ${sendProxy} ssl verify none`,
      );
      await using conn = await haproxy.connect();
      await writeAll(conn, encoder.encode("Hai from client"));
      await conn.closeWrite();
      assert.equal(decoder.decode(await readAll(conn)), "Thanks for connecting");
      const local = conn.localAddr as Deno.NetAddr;
      assert.equal(
        await server.stdout.until((line) => line.startsWith("Got connection")),
        `Got connection from 127.0.0.1:${local.port}`,
      );
      assert.equal(await server.stdout.next(), "Hai from client");
    },
  });
}
