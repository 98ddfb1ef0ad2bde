/**
 * Client cold start: whole `client.ts` processes against a quiet server,
 * median wall time, beside a minimal Deno client.
 *
 * Measured first, on a quiet machine: measured after the other figures,
 * which leave thousands of sockets for the kernel to clean up, it came out a
 * third slower in two runs of three.
 *
 * @module
 */

import { run } from "../../tests/_process.ts";
import type { Row } from "../_report.ts";
import { type Context, deno, here, log, median, net, root } from "../_context.ts";
import { ours } from "../_servers.ts";

/** Median wall time of whole-process runs, the commands taking turns so drift hits both. */
async function medianRunsMs(commands: string[][], runs: number): Promise<number[]> {
  const times: number[][] = commands.map(() => []);
  for (const args of commands) await run(deno, args); // fill Deno's module cache
  for (let i = 0; i < runs; i++) {
    for (const [index, args] of commands.entries()) {
      const startedAt = performance.now();
      await run(deno, args);
      times[index].push(performance.now() - startedAt);
    }
  }
  return times.map(median);
}

/** The cold-start figures and their row. */
export async function measureColdStart(
  ctx: Context,
): Promise<{ results: Record<string, unknown>; row: Row }> {
  log("client cold start");
  await using server = await ours("ours, quiet", ["--quiet"]);
  const port = String(server.port);
  const [oursMs, minimalMs] = await medianRunsMs([
    ["run", net, `${root}client.ts`, "--port", port],
    ["run", net, `${here}minimal_client.ts`, port],
  ], ctx.settings.coldRuns);
  return {
    results: { clientColdStartMs: { ours: oursMs, minimal: minimalMs } },
    row: {
      metric: "client cold start (median)",
      ours: oursMs,
      baseline: minimalMs,
      baselineName: "minimal Deno client",
      unit: "ms",
      target: { atMost: 1.3 },
    },
  };
}
