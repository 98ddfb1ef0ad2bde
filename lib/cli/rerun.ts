/**
 * The command that would work when a permission is missing. The tasks grant
 * loopback only; a user who points the client elsewhere should get a line to
 * copy, not a list of flags to look up.
 *
 * @module
 */

import { formatAddress } from "../_io.ts";
import { CLIENT_DEFAULTS } from "../client/options.ts";
import { LIB_FOLDER, unixNeeds } from "./permissions.ts";
import { ansiCQuote, CONTROL } from "./_shell_quote.ts";

/** Quotes one argument for a POSIX shell, only when it needs quoting. */
export function shellQuote(arg: string): string {
  // Brackets stay quoted: a shell may expand [::1] as a pattern.
  if (/^[\w@%+=:,./-]+$/.test(arg)) return arg;
  // A newline or an escape would break the one line or reach the terminal.
  if (CONTROL.test(arg)) return ansiCQuote(arg);
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/**
 * How to name the script in a command: its absolute path (or URL), which
 * works from any directory. A path relative to `Deno.cwd()` would not:
 * `deno task` runs the script from the project's root, wherever the
 * command was typed, so from `lib/` a bare `client.ts` named lib/client.ts.
 */
export function scriptName(url: string | URL): string {
  const script = new URL(url);
  if (script.protocol !== "file:") return script.href;
  return decodeURIComponent(script.pathname);
}

/** `deno run PERMISSIONS SCRIPT ARGS`, quoted for a shell. */
export function rerunCommand(script: string | URL, permissions: string[], args: string[]): string {
  return ["deno", "run", ...permissions, scriptName(script), ...args].map(shellQuote).join(" ");
}

/** The `--allow-net` grant for a host and port; `localhost` may resolve to either loopback. */
export function netGrant(hostname: string, port: number): string {
  const hosts = hostname === "localhost" ? ["localhost", "127.0.0.1", "::1"] : [hostname];
  return `--allow-net=${hosts.map((host) => formatAddress({ hostname: host, port })).join(",")}`;
}

/** The permissions a server command line needs: where it listens, and the files it reads. */
export function serverGrants(
  { hostname, port, path, tlsFiles, workers = 1 }: {
    hostname: string;
    port: number;
    path?: string;
    tlsFiles?: { cert: string; key: string };
    workers?: number;
  },
): string[] {
  const reads = tlsFiles ? [tlsFiles.cert, tlsFiles.key] : [];
  // A worker loads its modules afresh from lib/.
  if (workers > 1) reads.push(scriptName(LIB_FOLDER).replace(/\/$/, ""));
  return [
    ...(workers > 1 ? ["--unstable-net"] : []),
    ...(path === undefined ? [netGrant(hostname, port)] : unixGrants(path)),
    ...(reads.length > 0 ? [`--allow-read=${reads.join(",")}`] : []),
  ];
}

/** The permissions a client command line needs: its target, its CA file, FFI for epoll. */
export function clientGrants(
  {
    hostname = CLIENT_DEFAULTS.hostname,
    port = CLIENT_DEFAULTS.port,
    path,
    caFile,
    ffi = false,
  }: {
    hostname?: string;
    port?: number;
    path?: string;
    caFile?: string;
    ffi?: boolean;
  },
): string[] {
  return [
    ...(path === undefined ? [netGrant(hostname, port)] : unixGrants(path)),
    ...(caFile === undefined ? [] : [`--allow-read=${caFile}`]),
    ...(ffi ? ["--allow-ffi"] : []),
  ];
}

function unixGrants(path: string): string[] {
  return unixNeeds(path).map(([name, target]) => `--allow-${name}=${target}`);
}
