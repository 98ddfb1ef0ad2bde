/**
 * What every measurement shares: the settings of a full or a quick run, the
 * paths and permissions the programs run with, the temporary folders, and
 * the small statistics used throughout.
 *
 * @module
 */

import { hasProgram } from "../tests/_process.ts";

/** How long and how hard a run measures. */
export interface Settings {
  /** Turns each contender takes at each concurrency. */
  rounds: number;
  /** How long one turn of load lasts. */
  turnMs: number;
  concurrencies: number[];
  /** The size of one echoed stream. */
  echoBytes: number;
  /** Streams echoed per server. */
  echoRounds: number;
  /** Idle connections held open for the memory figure. */
  idle: number;
  /** Whole-process runs for the cold-start median. */
  coldRuns: number;
  /** Connections opened at once in a burst. */
  burst: number;
  /** Bursts per server. */
  burstRounds: number;
}

/** A full run (about two minutes) or a quick one (seconds; proves the harness works). */
export function settingsFor(quick: boolean): Settings {
  return quick
    ? {
      rounds: 1,
      turnMs: 300,
      concurrencies: [1, 32],
      echoBytes: 64 * 2 ** 20,
      echoRounds: 1,
      idle: 500,
      coldRuns: 3,
      burst: 500,
      burstRounds: 1,
    }
    : {
      rounds: 10,
      turnMs: 300,
      concurrencies: [1, 32, 256],
      echoBytes: 2 ** 30,
      echoRounds: 3,
      idle: 5000,
      coldRuns: 21,
      burst: 5000,
      burstRounds: 5,
    };
}

/** This folder, with the baselines' sources. */
export const here = new URL(".", import.meta.url).pathname;
/** The repository's root, with server.ts and client.ts. */
export const root = new URL("../", import.meta.url).pathname;
export const deno = Deno.execPath();
/** Every program measured gets loopback and nothing else. */
export const net = "--allow-net=127.0.0.1";

/** One run's settings, its scratch folder and which baselines this machine has. */
export interface Context {
  quick: boolean;
  settings: Settings;
  /** Temporary: compiled baselines and the server's log file. */
  workDir: string;
  hasNode: boolean;
  hasCc: boolean;
}

/** Settings, scratch folder and baselines for a run; the folder goes when the process ends. */
export async function createContext(quick: boolean): Promise<Context> {
  const workDir = await Deno.makeTempDir({ prefix: "tcp-bench-work-" });
  removeOnExit(workDir);
  return {
    quick,
    settings: settingsFor(quick),
    workDir,
    hasNode: await hasProgram("node"),
    hasCc: await hasProgram("cc"),
  };
}

/** Removes a temporary folder when the run ends, however it ends. */
export function removeOnExit(dir: string): void {
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch { /* already gone */ }
  });
}

/** Progress, on stderr: stdout carries only the tables. */
export function log(text: string): void {
  console.error(`bench: ${text}`);
}

/** The middle value (the upper one of an even count); NaN for none. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[sorted.length >> 1] : NaN;
}
