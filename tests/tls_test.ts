/**
 * TLS: ours against ours, against `openssl s_client` and `openssl s_server`,
 * and the one-line failures for an untrusted CA and a wrong name. The
 * certificates are made for each run by openssl in a temporary folder.
 *
 * @module
 */

import assert from "node:assert/strict";
import { hasProgram, LineReader } from "./_process.ts";
import { scriptCommand } from "./_scripts.ts";
import { decoder, encoder, freePort } from "./_sockets.ts";
import { makeCertificates, startTlsServer } from "./_tls.ts";

const noOpenssl = !(await hasProgram("openssl"));

function script(name: "server.ts" | "client.ts", dir: string, args: string[]) {
  return scriptCommand(name, args, {
    permissions: ["--allow-net=127.0.0.1", `--allow-read=${dir}`],
  });
}

/** `server.ts` with one of the CA's certificates, `good` or `wrong`. */
function startServerWith(dir: string, name = "good") {
  return startTlsServer(dir, [], { cert: `${name}.pem`, key: `${name}.key` });
}

Deno.test({
  name: "server.ts --cert and client.ts --ca exchange the lab's messages over TLS",
  ignore: noOpenssl,
  async fn() {
    await using certificates = await makeCertificates();
    const { dir } = certificates;
    await using server = await startServerWith(dir);
    const client = await script("client.ts", dir, [
      "--port",
      String(server.port),
      "--ca",
      `${dir}/ca.pem`,
    ])
      .output();
    assert.equal(client.code, 0, decoder.decode(client.stderr));
    assert.equal(decoder.decode(client.stdout), "Thanks for connecting");
    await server.stdout.until((line) => line.startsWith("Got connection from 127.0.0.1:"));
    assert.equal(await server.stdout.next(), "Hai from client");
  },
});

Deno.test({
  name: "openssl s_client is answered by server.ts over TLS",
  ignore: noOpenssl,
  async fn() {
    await using certificates = await makeCertificates();
    const { dir } = certificates;
    await using server = await startServerWith(dir);
    const child = new Deno.Command("openssl", {
      args: [
        "s_client",
        "-connect",
        `127.0.0.1:${server.port}`,
        "-CAfile",
        `${dir}/ca.pem`,
        "-verify_return_error",
        "-quiet",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(encoder.encode("Hai from client"));
    await writer.close();
    const { code, stdout } = await child.output();
    assert.equal(code, 0);
    assert.equal(decoder.decode(stdout), "Thanks for connecting");
  },
});

Deno.test({
  name: "client.ts --tls talks to openssl s_server",
  ignore: noOpenssl,
  async fn() {
    await using certificates = await makeCertificates();
    const { dir } = certificates;
    const port = String(freePort());
    const openssl = new Deno.Command("openssl", {
      args: [
        "s_server",
        "-accept",
        `127.0.0.1:${port}`,
        "-cert",
        `${dir}/good.pem`,
        "-key",
        `${dir}/good.key`,
        "-naccept",
        "1",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = new LineReader(openssl.stdout);
    const diagnostics = new Response(openssl.stderr).text();
    // The reply waits on s_server's stdin, which stays open until the end:
    // s_server stops serving when its stdin closes.
    const writer = openssl.stdin.getWriter();
    await writer.write(encoder.encode("Thanks for connecting"));
    try {
      await output.until((line) => line.includes("ACCEPT")); // listening
      const client = await script("client.ts", dir, ["--port", port, "--ca", `${dir}/ca.pem`])
        .output();
      assert.equal(client.code, 0, decoder.decode(client.stderr));
      assert.equal(decoder.decode(client.stdout), "Thanks for connecting");
    } finally {
      await writer.close().catch(() => {});
      try {
        openssl.kill("SIGTERM");
      } catch { /* already exited */ }
      await openssl.status;
    }
    const received = (await output.rest()).join("\n");
    assert.match(received, /Hai from client/, await diagnostics);
  },
});

Deno.test({
  name: "an untrusted CA or a wrong name fails the client with one line and exit 1",
  ignore: noOpenssl,
  async fn() {
    await using certificates = await makeCertificates();
    const { dir } = certificates;
    {
      await using server = await startServerWith(dir);
      const untrusted = await script("client.ts", dir, ["--port", String(server.port), "--tls"])
        .output();
      assert.equal(untrusted.code, 1);
      assert.match(
        decoder.decode(untrusted.stderr),
        /^error: Cannot connect to "127\.0\.0\.1:\d+": invalid peer certificate: UnknownIssuer\n$/,
      );
    }
    await using server = await startServerWith(dir, "wrong");
    const wrongName = await script("client.ts", dir, [
      "--port",
      String(server.port),
      "--ca",
      `${dir}/ca.pem`,
    ]).output();
    assert.equal(wrongName.code, 1);
    assert.match(
      decoder.decode(wrongName.stderr),
      /^error: Cannot connect to "127\.0\.0\.1:\d+": invalid peer certificate: certificate not valid for name "127\.0\.0\.1".*\n$/,
    );
  },
});
