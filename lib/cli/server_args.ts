/**
 * `server.ts`'s command line: every flag checked and turned into options for
 * `serve`, with one-line errors. Reads no file and opens no socket, so the
 * docs test checks every documented command with it.
 *
 * @module
 */

import { createAccessPolicy, type Framing, FRAMINGS, type ServeOptions } from "../mod.ts";
import { maxWorkers } from "../server/_workers.ts";
import { UsageError } from "./exit.ts";
import { parseHost } from "./_host.ts";
import {
  parseCount,
  parseDuration,
  parseFlags,
  parsePort,
  parseSize,
  unixPath,
  withoutTaskDashes,
} from "./flags.ts";

/** The flag the server:workers task ends in: a `--` after it is the user's first. */
export const SERVER_TASK_FLAG = { name: "--workers", words: 2 } as const;

/**
 * Parses the command line into options for `serve`, or `"help"` /
 * `"version"`; throws `UsageError` for a wrong one. Reads no file and opens
 * no socket, so the docs test checks every documented command with it.
 */
export function parseServerArgs(
  args: string[],
):
  | {
    options: ServeOptions;
    tlsFiles?: { cert: string; key: string };
    workers: number;
    json: boolean;
    quiet: boolean;
  }
  | "help"
  | "version" {
  args = withoutTaskDashes(args, SERVER_TASK_FLAG);
  const { values } = parseFlags(args, {
    host: { type: "string" },
    unix: { type: "string" },
    cert: { type: "string" },
    "proxy-protocol": { type: "boolean" },
    workers: { type: "string" },
    key: { type: "string" },
    port: { type: "string", short: "p" },
    backlog: { type: "string" },
    framing: { type: "string" },
    reply: { type: "string" },
    echo: { type: "boolean" },
    "keep-alive": { type: "boolean" },
    "max-message": { type: "string" },
    "idle-timeout": { type: "string" },
    "message-timeout": { type: "string" },
    "max-per-peer": { type: "string" },
    "max-connections": { type: "string" },
    "drain-timeout": { type: "string" },
    allow: { type: "string", multiple: true },
    deny: { type: "string", multiple: true },
    json: { type: "boolean" },
    quiet: { type: "boolean", short: "q" },
    help: { type: "boolean", short: "h" },
    version: { type: "boolean", short: "V" },
  }, false);
  if (values.help) return "help";
  if (values.version) return "version";
  const text = (name: string) => values[name] as string | undefined;
  const options: ServeOptions = {};
  if (text("host") !== undefined) options.hostname = parseHost(text("host")!);
  if (text("port") !== undefined) options.port = parsePort(text("port")!, 0);
  const path = unixPath(values, [
    "host",
    "port",
    "backlog",
    "allow",
    "deny",
    // --max-per-peer 0 is the default, no cap: nothing for a Unix socket to refuse.
    ...(values["max-per-peer"] === "0" ? [] : ["max-per-peer"]),
  ]);
  if (path !== undefined) options.path = path;
  if (text("backlog") !== undefined) options.backlog = parseCount(text("backlog")!, "backlog", 1);
  if (text("framing") !== undefined) {
    if (!FRAMINGS.includes(text("framing") as Framing)) {
      throw new UsageError(
        `Invalid framing "${text("framing")}": expected one of ${FRAMINGS.join(", ")}`,
      );
    }
    options.framing = text("framing") as Framing;
  }
  if (values.echo && text("reply") !== undefined) {
    throw new UsageError(`Flags "--echo" and "--reply" cannot be used together`);
  }
  if (text("reply") !== undefined) options.reply = text("reply");
  if (values.echo) options.echo = true;
  if (values["keep-alive"]) {
    if (options.framing !== "line") {
      throw new UsageError(`Flag "--keep-alive" needs "--framing line"`);
    }
    options.keepAlive = true;
  }
  if (text("max-message") !== undefined) {
    options.maxMessageBytes = parseSize(text("max-message")!, "maximum message size");
  }
  if (text("idle-timeout") !== undefined) {
    options.idleTimeout = parseDuration(text("idle-timeout")!, "idle timeout");
  }
  if (text("message-timeout") !== undefined) {
    options.messageTimeout = parseDuration(text("message-timeout")!, "message timeout");
  }
  if (text("max-per-peer") !== undefined) {
    options.maxPerPeer = parseCount(text("max-per-peer")!, "maximum connections per peer", 0);
  }
  if (text("max-connections") !== undefined) {
    options.maxConnections = parseCount(text("max-connections")!, "maximum connections", 1);
  }
  if (text("drain-timeout") !== undefined) {
    options.drainTimeout = parseDuration(text("drain-timeout")!, "drain timeout");
  }
  for (const name of ["allow", "deny"] as const) {
    const rules = values[name] as string[] | undefined;
    if (rules === undefined) continue;
    try {
      createAccessPolicy({ [name]: rules });
    } catch (error) {
      throw new UsageError(`--${name}: ${(error as Error).message}`);
    }
    options[name] = rules;
  }
  if (values["proxy-protocol"]) options.proxyProtocol = true;
  if (options.proxyProtocol && (options.maxPerPeer ?? 0) > 0) {
    // Behind a balancer every connection comes from the balancer's address.
    throw new UsageError(`Flags "--proxy-protocol" and "--max-per-peer" cannot be used together`);
  }
  if ((text("cert") === undefined) !== (text("key") === undefined)) {
    throw new UsageError(`Flags "--cert" and "--key" go together`);
  }
  if (text("cert") !== undefined && options.path !== undefined) {
    throw new UsageError(`Flags "--unix" and "--cert" cannot be used together`);
  }
  if (values.json && values.quiet) {
    throw new UsageError(`Flags "--json" and "--quiet" cannot be used together`);
  }
  const tlsFiles = text("cert") === undefined
    ? undefined
    : { cert: text("cert")!, key: text("key")! };
  const workers = text("workers") === undefined ? 1 : parseCount(text("workers")!, "workers", 1);
  if (workers > maxWorkers()) {
    throw new UsageError(
      `Invalid workers "${workers}": at most ${maxWorkers()} on this machine (twice its ${
        navigator.hardwareConcurrency || 1
      } CPUs, or 8 if that is more)`,
    );
  }
  if (workers > 1 && (options.path !== undefined || tlsFiles)) {
    throw new UsageError(
      `Flag "--workers" cannot be used with "--${options.path !== undefined ? "unix" : "cert"}"`,
    );
  }
  return {
    options,
    tlsFiles,
    workers,
    json: values.json === true,
    quiet: values.quiet === true,
  };
}

/** A server command line, parsed. */
export type ServerArgs = Exclude<ReturnType<typeof parseServerArgs>, "help" | "version">;
