/**
 * Flag parsing for `server.ts` and `client.ts`, with one-line errors, and
 * the value parsers for ports, counts, sizes and durations.
 *
 * @module
 */

import { MAX_TIMER_MS } from "../_time.ts";
import { UsageError } from "./exit.ts";

/** One flag: its kind, a one-letter alias, and whether it may repeat. */
export interface FlagSpec {
  type: "string" | "boolean";
  short?: string;
  multiple?: boolean;
}

/** Parsed flags by long name, and the arguments that are not flags. */
export interface ParsedFlags {
  values: Record<string, string | string[] | boolean | undefined>;
  positionals: string[];
}

/**
 * Parses `args` strictly: `--name value`, `--name=value`, `-n value`,
 * `-nvalue`, boolean `--name`, and `--` before arguments that start with a
 * dash.
 *
 * Written here rather than taken from `node:util`'s `parseArgs`, which has
 * the same rules but loads Node's compatibility layer: a fifth of a client
 * run's start-up, for what is forty lines. A flag that takes a value takes
 * the next argument whatever it is, so `--timeout -1s` is reported as an
 * invalid timeout rather than a missing one.
 */
export function parseFlags(
  args: string[],
  specs: Record<string, FlagSpec>,
  allowPositionals: boolean,
): ParsedFlags {
  const values: ParsedFlags["values"] = {};
  const positionals: string[] = [];
  const byShort = new Map(
    Object.entries(specs).flatMap(([name, spec]) => spec.short ? [[spec.short, name]] : []),
  );
  for (let index = 0; index < args.length; index++) {
    const arg = attachedShortValue(args[index], byShort, specs);
    if (arg === "--") {
      if (!allowPositionals && index + 1 < args.length) {
        throw new UsageError(`Unexpected argument "${args[index + 1]}"`);
      }
      positionals.push(...args.slice(index + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      if (!allowPositionals) throw new UsageError(`Unexpected argument "${arg}"`);
      positionals.push(arg);
      continue;
    }
    const equals = arg.indexOf("=");
    const given = equals === -1 ? arg : arg.slice(0, equals);
    const name = given.startsWith("--") ? given.slice(2) : byShort.get(given.slice(1));
    const spec = name === undefined ? undefined : specs[name];
    if (name === undefined || spec === undefined) throw new UsageError(`Unknown flag "${given}"`);
    const flag = `--${name}`;
    let value: string | boolean;
    if (spec.type === "boolean") {
      if (equals !== -1) throw new UsageError(`Flag "${flag}" takes no value`);
      value = true;
    } else if (equals !== -1) {
      value = arg.slice(equals + 1);
    } else if (index + 1 < args.length) {
      value = args[++index];
    } else {
      throw new UsageError(`Flag "${flag}" needs a value`);
    }
    if (spec.multiple) {
      values[name] = [...((values[name] as string[] | undefined) ?? []), value as string];
    } else {
      values[name] = value;
    }
  }
  return { values, positionals };
}

/**
 * `-p9512` as `-p=9512`: a one-letter flag that takes a value may have it
 * attached, as getopt reads it. A long name typed with one dash (`-port`)
 * is not read that way: it is reported as the unknown flag it is, rather
 * than as `-p` with the value `ort`. Any other argument is returned as it is.
 */
function attachedShortValue(
  arg: string,
  byShort: Map<string, string>,
  specs: Record<string, FlagSpec>,
): string {
  if (arg.length < 3 || arg[0] !== "-" || arg[1] === "-" || arg[2] === "=") return arg;
  if (Object.hasOwn(specs, arg.slice(1).split("=")[0])) return arg;
  const name = byShort.get(arg[1]);
  return name !== undefined && specs[name].type === "string"
    ? `${arg.slice(0, 2)}=${arg.slice(2)}`
    : arg;
}

/**
 * The arguments without the `--` that `deno task X -- flags` passes on: the
 * npm habit, which Deno hands to the script as it is. That is a `--` that
 * comes first, or right after the task's own flag when the task's command
 * ends in one (`client.ts --load`, `server.ts --workers 2`: `words` counts
 * the flag and its value). Only that one goes, so `client.ts -- -- -x` and
 * `client.ts --port 9000 -- -x` still send `-x` as the message.
 */
export function withoutTaskDashes(
  args: string[],
  taskFlag?: { name: string; words: 1 | 2 },
): string[] {
  const skip = taskFlag && args[0] === taskFlag.name ? taskFlag.words : 0;
  return args[skip] === "--" ? [...args.slice(0, skip), ...args.slice(skip + 1)] : args;
}

/**
 * The `--unix` path, if one was given: never empty, and never beside a flag
 * in `excluded`, which name a TCP endpoint or what only TCP has.
 */
export function unixPath(values: ParsedFlags["values"], excluded: string[]): string | undefined {
  const path = values.unix as string | undefined;
  if (path === undefined) return undefined;
  if (path === "") throw new UsageError(`Invalid Unix socket path ""`);
  for (const name of excluded) {
    if (values[name] !== undefined) {
      throw new UsageError(`Flags "--unix" and "--${name}" cannot be used together`);
    }
  }
  return path;
}

/** Parses a port number; `min` is 0 where "any free port" makes sense. */
export function parsePort(text: string, min: 0 | 1): number {
  const port = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(port >= min && port <= 65535)) {
    throw new UsageError(`Invalid port "${text}": expected a whole number from ${min} to 65535`);
  }
  return port;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses `500ms`, `30s`, `2m`, `1h`, or a bare number of seconds, into
 * milliseconds. `zeroMeansNone` is false for a flag that refuses 0
 * (`--duration`), so that its errors do not offer it.
 */
export function parseDuration(text: string, flag: string, zeroMeansNone = true): number {
  const match = text.trim().match(/^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/i);
  if (!match) {
    throw new UsageError(
      `Invalid ${flag} "${text}": expected a duration such as 500ms, 30s or 2m` +
        (zeroMeansNone ? ", 0 for none" : ""),
    );
  }
  const ms = Math.round(Number(match[1]) * DURATION_UNITS[(match[2] ?? "s").toLowerCase()]);
  if (ms > MAX_TIMER_MS) {
    throw new UsageError(`Invalid ${flag} "${text}": at most 24 days (${MAX_TIMER_MS} ms)`);
  }
  return ms;
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/** Parses `1024`, `64KiB`, `1MB`, `16m` into bytes; at least 1. */
export function parseSize(text: string, flag: string): number {
  const match = text.trim().match(/^(\d+(?:\.\d+)?)\s*([a-z]*)$/i);
  const unit = match ? SIZE_UNITS[match[2].toLowerCase()] : undefined;
  const bytes = match && unit ? Math.floor(Number(match[1]) * unit) : NaN;
  if (!(bytes >= 1) || !Number.isSafeInteger(bytes)) {
    throw new UsageError(
      `Invalid ${flag} "${text}": expected a size of at least 1 byte, such as 4096, 64KiB or 1MiB`,
    );
  }
  return bytes;
}

/** Parses a whole number of at least `min`. */
export function parseCount(text: string, flag: string, min: number): number {
  const count = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(count >= min) || !Number.isSafeInteger(count)) {
    throw new UsageError(`Invalid ${flag} "${text}": expected a whole number of at least ${min}`);
  }
  return count;
}
