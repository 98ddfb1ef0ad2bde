/**
 * TLS for tests: certificates made by openssl in a temporary folder for each
 * run, `server.ts` started with one, and a Python client that can skip
 * verifying a self-signed certificate, as Deno's own cannot.
 *
 * @module
 */

import assert from "node:assert/strict";
import { type ServerProcess, startServer } from "./_scripts.ts";
import { decoder } from "./_sockets.ts";

/** A folder of certificates, removed on dispose. */
export interface Certificates extends AsyncDisposable {
  dir: string;
}

/** Runs a shell script that makes a folder of certificates and prints its path. */
async function certificatesFrom(script: string): Promise<Certificates> {
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

/** A self-signed certificate for 127.0.0.1: `cert.pem` and `key.pem`. */
export function makeSelfSigned(): Promise<Certificates> {
  return certificatesFrom(`
set -e
dir=$(mktemp -d)
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/key.pem" -out "$dir/cert.pem" -days 1 \\
  -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
echo "$dir"
`);
}

/**
 * A throwaway CA (`ca.pem`), a server certificate for 127.0.0.1
 * (`good.pem`, `good.key`) and one for another name only (`wrong.pem`, `wrong.key`).
 */
export function makeCertificates(): Promise<Certificates> {
  return certificatesFrom(`
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
`);
}

/**
 * Starts `server.ts --cert FILE --key FILE` on loopback, allowed to read
 * `dir`, under a shell prefix such as `ulimit -n 256;` if given.
 */
export function startTlsServer(
  dir: string,
  args: string[],
  options: { cert?: string; key?: string; shell?: string } = {},
): Promise<ServerProcess> {
  const { cert = "cert.pem", key = "key.pem", shell } = options;
  return startServer(["--cert", `${dir}/${cert}`, "--key", `${dir}/${key}`, ...args], {
    shell,
    permissions: ["--allow-net=127.0.0.1", `--allow-read=${dir}`],
  });
}

/**
 * A TLS client in Python that does not verify the certificate: optionally
 * a PROXY header first, then the handshake, the lab's message, and the
 * reply on stdout.
 */
export async function pythonTlsClient(port: number, proxyHeader = ""): Promise<string> {
  const { success, stdout, stderr } = await new Deno.Command("python3", {
    args: [
      "-c",
      `
import socket, ssl, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(sys.argv[2].encode())
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
t = context.wrap_socket(s)
t.sendall(b"Hai from client")
print(t.recv(1024).decode(), end="")
`,
      String(port),
      proxyHeader,
    ],
  }).output();
  assert.ok(success, decoder.decode(stderr));
  return decoder.decode(stdout);
}
