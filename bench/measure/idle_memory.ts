/**
 * Resident memory per idle connection: many connections that send nothing,
 * held open against a fresh server process, ours and the baselines.
 *
 * @module
 */

import { openDescriptors, residentBytes } from "../../tests/_process.ts";
import type { Row } from "../_report.ts";
import { type Context, deno, here, log, net } from "../_context.ts";
import { type BenchServer, node, ours, startBenchServer } from "../_servers.ts";

/** Opens `idle` connections, waits until the server holds them all; bytes of RSS each. */
async function memoryPerIdle(server: BenchServer, idle: number): Promise<number> {
  const base = await openDescriptors(server.pid);
  const before = await residentBytes(server.pid);
  const conns: Deno.Conn[] = [];
  try {
    for (let i = 0; i < idle; i++) {
      conns.push(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
    }
    const deadline = performance.now() + 20_000;
    while ((await openDescriptors(server.pid)) < base + idle) {
      if (performance.now() > deadline) throw new Error(`${server.name} did not accept them all`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return ((await residentBytes(server.pid)) - before) / idle;
  } finally {
    for (const conn of conns) conn.close();
  }
}

/** The memory figures and their row. */
export async function measureIdleMemory(
  ctx: Context,
): Promise<{ results: Record<string, unknown>; row: Row }> {
  log("memory per idle connection");
  const { idle } = ctx.settings;
  const raise = 'ulimit -n "$(ulimit -Hn)";';
  const perIdle: Record<string, number> = {};
  {
    await using server = await ours(
      "ours",
      ["--quiet", "--idle-timeout", "0", "--max-connections", String(idle * 2)],
      undefined,
      raise,
    );
    perIdle.ours = await memoryPerIdle(server, idle);
  }
  {
    await using server = await startBenchServer("minimal Deno", "sh", [
      "-c",
      `${raise} exec '${deno}' run ${net} '${here}minimal_server.ts'`,
    ]);
    perIdle.minimal = await memoryPerIdle(server, idle);
  }
  if (ctx.hasNode) {
    await using server = await node();
    perIdle.node = await memoryPerIdle(server, idle);
  }
  return {
    results: { bytesPerIdleConnection: perIdle },
    row: {
      metric: `RSS per idle connection (${idle} open)`,
      ours: perIdle.ours / 1024,
      baseline: perIdle.minimal / 1024,
      baselineName: "minimal Deno",
      unit: "KiB",
      target: { atMost: 1.1 },
    },
  };
}
