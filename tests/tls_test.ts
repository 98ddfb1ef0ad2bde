/**
 * TLS: ours against ours, against `openssl s_client` and `openssl s_server`,
 * and the one-line failures for an untrusted CA and a wrong name. The
 * certificates are made for each run by openssl in a temporary folder.
 *
 * @module
 */

import assert from "node:assert/strict";
import { decoder, encoder, hasProgram, LineReader, scriptCommand } from "./_helpers.ts";

const noOpenssl = !(await hasProgram("openssl"));

/** A throwaway CA, a server certificate for 127.0.0.1 and one for another name only. */
async function makeCertificates() {
  const script = `
set -e
dir=$(mktemp -d)
cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj "/CN=Test CA" 2>/dev/null
for name in good wrong; do
  openssl req -newkey rsa:2048 -nodes -keyout $name.key -out $name.csr -subj "/CN=$name" 2>/dev/null
  if [ $name = good ]; then san="DNS:localhost,IP:127.0.0.1,IP:::1"; else san="DNS:example.com"; fi
  printf "subjectAltName=%s\\nextendedKeyUsage=serverAuth\\n" "$san" > $name.cnf
  openssl x509 -req -in $name.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $name.pem -days 1 -extfile $name.cnf 2>/dev/null
done
echo "$dir"
`;
  const { success, stdout, stderr } = await new Deno.Command("sh", { args: ["-c", script] })
    .output();
  assert.ok(success, decoder.decode(stderr));
  const dir = decoder.decode(stdout).trim();
  return {
    dir,
    async [Symbol.asyncDispose]() {
      await new Deno.Command("rm", { args: ["-rf", dir] }).output();
    },
  };
}

function script(name: "server.ts" | "client.ts", dir: string, args: string[]) {
  return scriptCommand(name, args, {
    permissions: ["--allow-net=127.0.0.1", `--allow-read=${dir}`],
  });
}

async function startTlsServer(dir: string, certificate = "good") {
  const child = script("server.ts", dir, [
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--cert",
    `${dir}/${certificate}.pem`,
    "--key",
    `${dir}/${certificate}.key`,
  ]).spawn();
  const stdout = new LineReader(child.stdout);
  const stderr = new Response(child.stderr).text();
  const port = (await stdout.until((line) => line.startsWith("Listening on"))).split(":").pop()!;
  return {
    port,
    stdout,
    async [Symbol.asyncDispose]() {
      child.kill("SIGTERM");
      await Promise.all([child.status, stdout.rest(), stderr]);
    },
  };
}

Deno.test({
  name: "server.ts --cert and client.ts --ca exchange the lab's messages over TLS",
  ignore: noOpenssl,
  async fn() {
    await using certificates = await makeCertificates();
    const { dir } = certificates;
    await using server = await startTlsServer(dir);
    const client = await script("client.ts", dir, ["--port", server.port, "--ca", `${dir}/ca.pem`])
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
    await using server = await startTlsServer(dir);
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
    const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = String(probe.addr.port);
    probe.close();
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
      await using server = await startTlsServer(dir);
      const untrusted = await script("client.ts", dir, ["--port", server.port, "--tls"]).output();
      assert.equal(untrusted.code, 1);
      assert.match(
        decoder.decode(untrusted.stderr),
        /^error: Cannot connect to "127\.0\.0\.1:\d+": invalid peer certificate: UnknownIssuer\n$/,
      );
    }
    await using server = await startTlsServer(dir, "wrong");
    const wrongName = await script("client.ts", dir, [
      "--port",
      server.port,
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
