/**
 * The benchmark harness: `deno task bench` (about two minutes) or
 * `deno task bench --quick` (seconds; proves the harness works, as CI does).
 *
 * One run starts, one after another on loopback, our server and the
 * baselines it is held against, drives each the same way, and reports every
 * figure with its ratio to the baseline measured in the same run: as a
 * markdown table on stdout, in `bench/results.json`, and as `bench/chart.svg`
 * (cycles per second against concurrency). A quick run writes its files to a
 * temporary folder instead, leaving the committed results alone.
 *
 * Each measurement is a file in `measure/`; the settings and the servers
 * they drive are shared from `_context.ts`, `_servers.ts` and `_load.ts`.
 *
 * @module
 */

import { createContext, here, log, removeOnExit } from "./_context.ts";
import { renderChart, renderLatencyTable, renderTable, type Row } from "./_report.ts";
import { measureBurst } from "./measure/burst.ts";
import { measureColdStart } from "./measure/cold_start.ts";
import { measureCycles } from "./measure/cycles.ts";
import { measureEcho } from "./measure/echo.ts";
import { measureIdleMemory } from "./measure/idle_memory.ts";
import { measureLoadGenerator } from "./measure/load_generator.ts";

/** Runs every measurement, prints the tables and writes the results; the exit code. */
export async function main(args: string[]): Promise<number> {
  const quick = args.includes("--quick");
  const ctx = await createContext(quick);
  // A quick run's results are only a smoke test: they go with its folder.
  const outDir = quick ? await Deno.makeTempDir({ prefix: "tcp-bench-" }) : here;
  if (quick) removeOnExit(outDir);
  const results: Record<string, unknown> = {
    machine: { cores: navigator.hardwareConcurrency, deno: Deno.version.deno, quick },
    loadEngine: "epoll",
  };
  const rows: Row[] = [];

  // Cold start first, on a quiet machine; its row comes later in the table.
  const coldStart = await measureColdStart(ctx);
  Object.assign(results, coldStart.results);
  const cycles = await measureCycles(ctx);
  Object.assign(results, cycles.results);
  rows.push(...cycles.rows);
  const loadGenerator = await measureLoadGenerator(ctx);
  Object.assign(results, loadGenerator.results);
  rows.push(...loadGenerator.rows);
  const echo = await measureEcho(ctx);
  Object.assign(results, echo.results);
  rows.push(echo.row);
  const idleMemory = await measureIdleMemory(ctx);
  Object.assign(results, idleMemory.results);
  rows.push(idleMemory.row, coldStart.row);
  const burst = await measureBurst(ctx);
  Object.assign(results, burst.results);
  rows.push(...burst.rows);

  results.rows = rows;
  await Deno.writeTextFile(`${outDir}/results.json`, JSON.stringify(results, null, 2) + "\n");
  await Deno.writeTextFile(`${outDir}/chart.svg`, renderChart(cycles.series));
  console.log(renderTable(rows, { cores: navigator.hardwareConcurrency, quick }));
  console.log("");
  console.log(renderLatencyTable(cycles.series));
  log(
    quick ? "quick run: results not kept" : `wrote ${outDir}/results.json and ${outDir}/chart.svg`,
  );
  return 0;
}

if (import.meta.main) Deno.exitCode = await main(Deno.args);
