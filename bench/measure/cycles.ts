/**
 * Cycles per second at each concurrency, and the server's CPU time per
 * cycle at concurrency 32: ours quiet and logging to a file, against the
 * minimal Deno server and Node.js.
 *
 * The machine's speed drifts by tens of percent over seconds (it is a
 * virtual machine), more than the differences measured here. So every
 * contender runs at once, idle but for its turn, and the turns are short
 * and rotate: drift then falls on all of them alike. Each figure is the
 * median turn; CPU per cycle is summed over all turns.
 *
 * @module
 */

import { cpuMs } from "../../tests/_process.ts";
import type { Row } from "../_report.ts";
import { type Context, log, median } from "../_context.ts";
import { load } from "../_load.ts";
import { type BenchServer, minimal, node, ours } from "../_servers.ts";

/** One turn's figures. */
export interface Point {
  concurrency: number;
  cyclesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: Record<string, number>;
  cpuUsPerCycle: number;
}

/** One contender's median turn at each concurrency, with every turn's rate. */
export interface Series {
  name: string;
  points: (Point & { turns: number[] })[];
}

/** Everything the cycles figure gives the report. */
export interface CyclesResult {
  series: Series[];
  cpuPerCycle: Record<string, number>;
  results: Record<string, unknown>;
  rows: Row[];
}

/** The contenders, each started fresh at each concurrency. */
function contenders(ctx: Context): [string, () => Promise<BenchServer>][] {
  const logFile = `${ctx.workDir}/server.log`;
  return [
    ["ours, quiet", () => ours("ours, quiet", ["--quiet"])],
    ["ours, logging to a file", async () => {
      // A fresh file each time: the listening line of the last run must not be read.
      await Deno.remove(logFile).catch(() => {});
      return ours("ours, logging to a file", [], logFile);
    }],
    ["minimal Deno", minimal],
    ...(ctx.hasNode ? [["Node.js net", node] as [string, () => Promise<BenchServer>]] : []),
  ];
}

/** Every contender's turns at one concurrency, into `measured` and `cpuTotals`. */
async function takeTurns(
  ctx: Context,
  concurrency: number,
  measured: Map<string, Point[]>,
  cpuTotals: Map<string, { cpuMs: number; cycles: number }>,
): Promise<void> {
  const { rounds, turnMs } = ctx.settings;
  log(`concurrency ${concurrency}: ${rounds} turns of ${turnMs} ms each`);
  const servers: { name: string; server: BenchServer }[] = [];
  try {
    for (const [name, start] of contenders(ctx)) servers.push({ name, server: await start() });
    // A first, unrecorded turn each, so that no figure includes warming up.
    for (const { server } of servers) {
      await load(server.port, concurrency, { limit: ["--duration", "150ms"] });
    }
    for (let round = 0; round < rounds; round++) {
      for (const { name, server } of servers) {
        const cpuBefore = await cpuMs(server.pid);
        const report = await load(server.port, concurrency, {
          limit: ["--duration", `${turnMs}ms`],
        });
        const cpu = (await cpuMs(server.pid)) - cpuBefore;
        const key = `${name}@${concurrency}`;
        measured.set(key, [...(measured.get(key) ?? []), {
          concurrency,
          cyclesPerSecond: report.cyclesPerSecond,
          p50Ms: report.latencyMs.p50,
          p99Ms: report.latencyMs.p99,
          errors: report.errors,
          cpuUsPerCycle: (cpu * 1000) / Math.max(1, report.cycles),
        }]);
        const total = cpuTotals.get(key) ?? { cpuMs: 0, cycles: 0 };
        cpuTotals.set(key, { cpuMs: total.cpuMs + cpu, cycles: total.cycles + report.cycles });
      }
    }
  } finally {
    for (const { server } of servers) await server[Symbol.asyncDispose]();
  }
}

/** Cycles per second and CPU per cycle, with their rows. */
export async function measureCycles(ctx: Context): Promise<CyclesResult> {
  const { concurrencies } = ctx.settings;
  const measured = new Map<string, Point[]>();
  const cpuTotals = new Map<string, { cpuMs: number; cycles: number }>();
  for (const concurrency of concurrencies) {
    await takeTurns(ctx, concurrency, measured, cpuTotals);
  }
  const series: Series[] = [];
  const cpuPerCycle: Record<string, number> = {};
  for (const [name] of contenders(ctx)) {
    const points = concurrencies.map((concurrency) => {
      const runs = measured.get(`${name}@${concurrency}`)!;
      const rate = median(runs.map((run) => run.cyclesPerSecond));
      const typical = runs.find((run) => run.cyclesPerSecond === rate)!;
      return { ...typical, turns: runs.map((run) => Math.round(run.cyclesPerSecond)) };
    });
    series.push({ name, points });
    const total = cpuTotals.get(`${name}@32`);
    cpuPerCycle[name] = total ? (total.cpuMs * 1000) / Math.max(1, total.cycles) : NaN;
  }
  return {
    series,
    cpuPerCycle,
    results: { cycles: series, cpuMicrosecondsPerCycle: cpuPerCycle },
    rows: cyclesRows(series, cpuPerCycle, concurrencies),
  };
}

/** Ours quiet against the minimal server, ours logging against ours quiet, and CPU. */
function cyclesRows(
  series: Series[],
  cpuPerCycle: Record<string, number>,
  concurrencies: number[],
): Row[] {
  const rate = (name: string, concurrency: number) =>
    series.find((s) => s.name === name)?.points.find((p) => p.concurrency === concurrency)
      ?.cyclesPerSecond ?? NaN;
  const rows: Row[] = [];
  for (const concurrency of concurrencies) {
    rows.push({
      metric: `cycles/s at concurrency ${concurrency}, quiet`,
      ours: rate("ours, quiet", concurrency),
      baseline: rate("minimal Deno", concurrency),
      baselineName: "minimal Deno",
      unit: "/s",
      target: concurrency === 1 ? undefined : { atLeast: 0.95 },
    });
  }
  for (const concurrency of concurrencies) {
    rows.push({
      metric: `cycles/s at concurrency ${concurrency}, logging to a file`,
      ours: rate("ours, logging to a file", concurrency),
      baseline: rate("ours, quiet", concurrency),
      baselineName: "ours, quiet",
      unit: "/s",
      target: { atLeast: 0.85 },
    });
  }
  rows.push({
    metric: "server CPU per cycle (user+sys), concurrency 32",
    ours: cpuPerCycle["ours, quiet"],
    baseline: cpuPerCycle["minimal Deno"],
    baselineName: "minimal Deno",
    unit: "µs",
    target: { atMost: 1.1 },
  });
  return rows;
}
