/**
 * The lab's TCP server: accept a connection, receive one message, log it,
 * reply `Thanks for connecting`, close; every connection on its own.
 *
 * Try it in two terminals:
 *
 * ```sh
 * deno task server          # Listening on 0.0.0.0:8080
 * deno task client          # Thanks for connecting
 * ```
 *
 * Or straight from a URL:
 *
 * ```sh
 * deno run --allow-net=0.0.0.0:8080 https://example.com/tcp/server.ts
 * ```
 *
 * `--help` lists every flag. Exit codes: 0 after a clean shutdown (SIGINT,
 * SIGTERM or SIGHUP), 1 when it cannot listen (port in use, no permission),
 * 2 for a wrong command line.
 *
 * @module
 */

import { parseCommandLine, reportFailure } from "./lib/cli/exit.ts";
import { withoutTaskDashes } from "./lib/cli/flags.ts";
import { addressNeeds, missingPermission, unixNeeds } from "./lib/cli/permissions.ts";
import { readPem } from "./lib/cli/pem.ts";
import { parseServerArgs, SERVER_TASK_FLAG } from "./lib/cli/server_args.ts";
import { runServer } from "./lib/cli/run_server.ts";
import { SERVE_DEFAULTS } from "./lib/mod.ts";

export { parseServerArgs, type ServerArgs } from "./lib/cli/server_args.ts";

const USAGE_HINT = "Usage: deno task server [flags]; --help lists them";

/** The version in deno.json, read only for --help and --version. */
async function version(): Promise<string> {
  const { default: denoJson } = await import("./deno.json", { with: { type: "json" } });
  return denoJson.version;
}

function printUsage(version: string): void {
  console.log(`TCP server ${version}: the networking lab's server, production grade

Usage: deno task server [flags]
       deno run --allow-net=HOST:PORT server.ts [flags]

The task may listen on any port of 0.0.0.0, 127.0.0.1, [::] and [::1]; for
another address it prints the deno run command that works. A -- before the
flags (the npm habit) is ignored.

Listening:
  --host HOST            address to listen on (default ${SERVE_DEFAULTS.hostname}; 127.0.0.1 for this
                         machine only, :: or ::1 for IPv6)
  -p, --port PORT        port, 0 for any free one (default ${SERVE_DEFAULTS.port})
  --backlog N            kernel queue of connections not yet accepted (default 4096)
  --workers N            N accept loops, one per thread, sharing the port through
                         SO_REUSEPORT; one combined summary (needs deno run
                         --unstable-net; default 1; at most twice the CPUs, or 8);
                         the connection limits apply to each worker
  --proxy-protocol       expect a PROXY protocol v1 or v2 header from a load
                         balancer first (in clear text, before TLS with --cert);
                         log, allow and deny by the address in it
  --cert FILE --key FILE serve over TLS with this PEM certificate chain and key
                         (needs --allow-read for both files)
  --unix PATH            listen on a Unix domain socket instead (needs
                         --allow-read, --allow-write and --allow-net=unix:PATH);
                         a stale socket file left by a dead server is replaced

Messages:
  --framing MODE         where a message ends (default chunk):
                           chunk  whatever the first read returns (the lab)
                           line   up to and including the first newline
                           eof    until the client half-closes
  --reply TEXT           the reply (default "Thanks for connecting")
  --echo                 send each message back instead; streamed with --framing eof
  --keep-alive           with --framing line: answer line after line on one
                         connection until the client closes (replies end in \\n)

Limits:
  --max-message SIZE     largest message, e.g. 4096, 64KiB, 1MiB (default 1MiB)
  --idle-timeout TIME    close after this long with no byte moving, e.g. 500ms,
                         30s, 2m; 0 for never (default 30s)
  --message-timeout TIME close when a message is not whole and answered this
                         long after its first byte, however it trickles in;
                         0 for never (default 60s)
  --max-connections N    most connections at once; past it, wait (default 1024)
  --max-per-peer N       most connections at once from one IP address; past it,
                         refused at once (default 0: no cap; not with --unix
                         or --proxy-protocol)
  --drain-timeout TIME   on SIGINT, SIGTERM or SIGHUP, how long connections in
                         flight get to finish (default 5s)

Access (repeatable or comma-separated; IPv4 and IPv6 addresses and CIDR ranges):
  --allow RANGES         only these may connect, e.g. 127.0.0.1,10.0.0.0/8,::1;
                         a list that names no address is an error
  --deny RANGES          these may not, even if allowed; refused clients are
                         closed at once, unanswered, and logged

Output:
  --json                 one JSON object per event instead of readable lines
  -q, --quiet            only the listening line and the summary on stdout;
                         resets, failed connections and failed accepts still
                         go to stderr
  -h, --help             this help
  -V, --version          the version

Examples:
  deno task server
  deno task server --port 9000
  deno run --allow-net=127.0.0.1:0 server.ts --host 127.0.0.1 --port 0 --echo --framing eof
  deno task server --allow 127.0.0.0/8,::1 --deny 127.0.0.2

Exit codes: 0 clean shutdown, 1 cannot listen, 2 wrong command line.`);
}

/** Runs the server until SIGINT, SIGTERM or SIGHUP; resolves to the exit code. */
export async function main(args: string[]): Promise<number> {
  const parsed = await parseCommandLine(() => parseServerArgs(args), {
    printUsage,
    version,
    usageHint: USAGE_HINT,
  });
  if (typeof parsed === "number") return parsed;
  const { options, tlsFiles, workers } = parsed;
  const { hostname = SERVE_DEFAULTS.hostname, port = SERVE_DEFAULTS.port, path } = options;
  // The command that would work, built only when a permission is missing.
  const rerun = async () => {
    const { rerunCommand, serverGrants } = await import("./lib/cli/rerun.ts");
    const grants = serverGrants({ hostname, port, path, tlsFiles, workers });
    return rerunCommand(import.meta.url, grants, withoutTaskDashes(args, SERVER_TASK_FLAG));
  };
  // Asked before listening so that the answer is the whole command to run.
  const needs = path === undefined ? addressNeeds(hostname, port) : unixNeeds(path);
  const missing = missingPermission(needs);
  if (missing) return await reportFailure(missing, "", rerun);
  if (tlsFiles) {
    try {
      options.tls = {
        cert: await readPem(tlsFiles.cert, "certificate"),
        key: await readPem(tlsFiles.key, "key"),
      };
    } catch (error) {
      return await reportFailure(error, USAGE_HINT, rerun);
    }
  }
  return await runServer(parsed, { rerun, usageHint: USAGE_HINT });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
