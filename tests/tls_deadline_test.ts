/**
 * TLS connections close at their deadlines, handshake or not, and a PROXY
 * header may come before the handshake, as HAProxy sends it with `ssl`
 * (HAProxy itself is in haproxy_test.ts).
 *
 * @module
 */

import assert from "node:assert/strict";
import { hasProgram, openDescriptors, within } from "./_process.ts";
import { connect, decoder, readAll, writeAll } from "./_sockets.ts";
import { makeSelfSigned, pythonTlsClient, startTlsServer } from "./_tls.ts";

const ignore = !(await hasProgram("openssl")) || !(await hasProgram("python3"));

Deno.test({
  name: "server.ts --cert closes a client that never starts its handshake at the idle timeout",
  ignore,
  async fn() {
    await using certificate = await makeSelfSigned();
    await using server = await startTlsServer(certificate.dir, ["--idle-timeout", "1s"]);
    assert.equal(await pythonTlsClient(server.port), "Thanks for connecting");
    const before = await openDescriptors(server.child.pid);
    const silent = await Promise.all(Array.from({ length: 50 }, () => connect(server.port)));
    try {
      // Every one of them sees the server close: EOF, with no byte; and
      // soon, or the test fails instead of waiting for ever.
      const seen = await within(
        Promise.all(silent.map((conn) => readAll(conn).catch(() => null))),
        10_000,
        "No EOF within 10 s",
      );
      assert.ok(seen.every((bytes) => bytes !== null && bytes.length === 0));
    } finally {
      for (const conn of silent) conn.close();
    }
    // And the server really let go of their descriptors.
    const after = await openDescriptors(server.child.pid);
    assert.ok(after <= before + 2, `${before} descriptors before, ${after} after`);
  },
});

Deno.test({
  name: "server.ts --cert closes a handshake trickled slower than the idle timeout",
  ignore,
  async fn() {
    await using certificate = await makeSelfSigned();
    await using server = await startTlsServer(certificate.dir, ["--idle-timeout", "1s"]);
    // A real ClientHello, one byte every 200 ms: each byte would have
    // renewed an idle timeout that counted handshake bytes.
    const { stdout } = await new Deno.Command("python3", {
      args: [
        "-c",
        `
import socket, ssl, sys, time
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = context.wrap_bio(incoming, outgoing)
try:
    tls.do_handshake()
except ssl.SSLWantReadError:
    pass
hello = outgoing.read()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
sent = 0
try:
    for byte in hello:
        s.sendall(bytes([byte]))
        sent += 1
        time.sleep(0.2)
        if sent >= 60:
            break
except OSError:
    pass
print(sent)
`,
        String(server.port),
      ],
    }).output();
    assert.ok(Number(decoder.decode(stdout)) < 60, "the server took 12 s of trickle");
    assert.match(
      await server.stdout.until((line) => line.includes("closed")),
      /^127\.0\.0\.1:\d+: no TLS handshake within the idle timeout, closed$/,
    );
  },
});

Deno.test({
  name: "server.ts --cert closes a health check that connects and leaves quietly, at once",
  ignore,
  async fn() {
    await using certificate = await makeSelfSigned();
    await using server = await startTlsServer(certificate.dir, []);
    for (let i = 0; i < 3; i++) (await connect(server.port)).close();
    assert.equal(await pythonTlsClient(server.port), "Thanks for connecting");
    const { code, lines } = await server.stop();
    assert.equal(code, 0);
    // None was left waiting to be answered over a handshake that never came.
    assert.ok(lines.includes("Shutting down"), lines.join("\n"));
    assert.match(lines.at(-1)!, /^Served 4 connections \(1 message\), .* 0 errors,/);
  },
});

Deno.test({
  name: "server.ts --cert --allow closes a refused client at once, before any handshake",
  ignore,
  async fn() {
    await using certificate = await makeSelfSigned();
    // No idle timeout: only the refusal itself can close these.
    await using server = await startTlsServer(certificate.dir, [
      "--allow",
      "10.0.0.0/8",
      "--idle-timeout",
      "0",
    ]);
    const before = await openDescriptors(server.child.pid);
    const refused = await Promise.all(Array.from({ length: 20 }, () => connect(server.port)));
    try {
      const seen = await within(
        Promise.all(refused.map((conn) => readAll(conn).catch(() => new Uint8Array()))),
        10_000,
        "No EOF within 10 s",
      );
      assert.ok(seen.every((bytes) => bytes.length === 0));
    } finally {
      for (const conn of refused) conn.close();
    }
    const after = await openDescriptors(server.child.pid);
    assert.ok(after <= before + 2, `${before} descriptors before, ${after} after`);
    const { lines } = await server.stop();
    assert.match(lines.at(-1)!, /20 refused/);
  },
});

Deno.test({
  name: "server.ts --cert closes a client that stops reading its echo at the idle timeout",
  ignore,
  async fn() {
    await using certificate = await makeSelfSigned();
    await using server = await startTlsServer(certificate.dir, [
      "--framing",
      "eof",
      "--echo",
      "--max-message",
      "1GiB",
      "--idle-timeout",
      "1s",
    ]);
    // Sends 64 MiB and never reads the echo: the server's write stalls.
    const client = new Deno.Command("python3", {
      args: [
        "-c",
        `
import socket, ssl, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
t = context.wrap_socket(s)
sent = 0
try:
    for _ in range(1024):
        t.sendall(b"x" * 65536)
        sent += 1
except OSError:
    pass
print(sent)
`,
        String(server.port),
      ],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const sent = new Response(client.stdout).text();
    try {
      const line = await server.stdout.until((line) => line.includes("idle for"), 15_000);
      assert.match(line, /^127\.0\.0\.1:\d+: idle for/);
    } finally {
      await client.status;
    }
    // The server stopped reading while it could not write: no unbounded queue.
    assert.ok(Number(await sent) < 1024, `the server took all ${await sent} blocks`);
    const { lines } = await server.stop();
    assert.match(lines.at(-1)!, /1 idle timeout/);
  },
});

Deno.test({
  name: "300 silent TLS clients under ulimit -n 256 lock nobody out for long",
  ignore,
  async fn() {
    await using certificate = await makeSelfSigned();
    await using server = await startTlsServer(certificate.dir, ["--idle-timeout", "1s"], {
      shell: "ulimit -n 256;",
    });
    const silent: Deno.Conn[] = [];
    try {
      // Connects succeed past the server's limit: the kernel queues them.
      for (let i = 0; i < 300; i++) silent.push(await connect(server.port));
      // A real client, while they hold every descriptor: served once the
      // idle timeout has closed enough of them.
      assert.equal(await pythonTlsClient(server.port), "Thanks for connecting");
    } finally {
      for (const conn of silent) conn.close();
    }
  },
});

Deno.test({
  name: "server.ts --proxy-protocol --cert reads the clear-text header before the handshake",
  ignore,
  async fn() {
    await using certificate = await makeSelfSigned();
    await using server = await startTlsServer(certificate.dir, ["--proxy-protocol"]);
    const reply = await pythonTlsClient(
      server.port,
      "PROXY TCP4 203.0.113.7 127.0.0.1 51000 8443\r\n",
    );
    assert.equal(reply, "Thanks for connecting");
    assert.equal(
      await server.stdout.until((line) => line.startsWith("Got connection")),
      "Got connection from 203.0.113.7:51000",
    );
    assert.equal(await server.stdout.next(), "Hai from client");
    // Without a header, the handshake's bytes are not taken for one.
    await using conn = await connect(server.port);
    await writeAll(conn, new Uint8Array([0x16, 0x03, 0x01, 0x00, 0x05]));
    assert.equal((await readAll(conn).catch(() => new Uint8Array())).length, 0);
    assert.match(
      await server.stdout.until((line) => line.includes("PROXY")),
      /Missing PROXY protocol header/,
    );
  },
});

Deno.test({
  name: "server.ts --cert still checks the certificate and key before it listens",
  ignore,
  async fn() {
    await using certificate = await makeSelfSigned();
    const { dir } = certificate;
    // The key given as the certificate, and the certificate as the key.
    for (
      const [cert, key, pattern] of [
        [`${dir}/key.pem`, `${dir}/key.pem`, /no certificates found/],
        [`${dir}/cert.pem`, `${dir}/cert.pem`, /no keys found/],
      ]
    ) {
      const output = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--no-prompt",
          "--allow-net=127.0.0.1",
          `--allow-read=${dir}`,
          new URL("../server.ts", import.meta.url).pathname,
          "--host",
          "127.0.0.1",
          "--port",
          "0",
          "--cert",
          cert as string,
          "--key",
          key as string,
        ],
        signal: AbortSignal.timeout(10_000),
      }).output();
      const stderr = decoder.decode(output.stderr);
      assert.equal(output.code, 1, stderr);
      // How the line begins is server.ts's to word; what it names is Deno's check.
      assert.match(stderr, /^error: /);
      assert.match(stderr, pattern as RegExp);
      assert.equal(stderr.trim().split("\n").length, 1, stderr);
    }
  },
});
