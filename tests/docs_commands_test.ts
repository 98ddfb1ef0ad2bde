// Every shell command README.md and both --help texts show: parsed by the
// script's own parser, checked for where its message and each flag land,
// and, where it can run here, run with its port moved to a free one. The
// commands are found afresh each run, so a new README line or a new flag is
// covered without touching this file.
import assert from "node:assert/strict";
import readme from "../README.md" with { type: "text" };
import serverSource from "../server.ts" with { type: "text" };
import clientSource from "../client.ts" with { type: "text" };
import { main as clientMain, parseClientArgs } from "../client.ts";
import { main as serverMain, parseServerArgs } from "../server.ts";
import { DEFAULT_MESSAGE, serve } from "../lib/mod.ts";
import { runDeno, startListening } from "./_commands.ts";
import {
  type DocCommand,
  helpCommands,
  type HelpFlag,
  helpFlags,
  markdownCommands,
  resolveScript,
  type ScriptRun,
} from "./_doc_commands.ts";
import { canSpawn } from "./_process.ts";

/** A script's --help text, from its own main() in this process. */
async function helpOf(main: (args: string[]) => Promise<number>): Promise<string> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...args: unknown[]) => void lines.push(args.join(" "));
  try {
    assert.equal(await main(["--help"]), 0);
  } finally {
    console.log = log;
  }
  return lines.join("\n");
}

const help = { "server.ts": await helpOf(serverMain), "client.ts": await helpOf(clientMain) };
const flagsOf = {
  "server.ts": helpFlags(help["server.ts"]),
  "client.ts": helpFlags(help["client.ts"]),
};
const parserOf = { "server.ts": parseServerArgs, "client.ts": parseClientArgs };

/** The first doc comment of a script, which `deno doc` shows: its sh blocks are docs too. */
function moduleDoc(source: string): string {
  const comment = source.match(/\/\*\*([\s\S]*?)\*\//)?.[1] ?? "";
  return comment.split("\n").map((line) => line.replace(/^\s*\* ?/, "")).join("\n");
}

const commands: DocCommand[] = [
  ...markdownCommands(readme, "README.md"),
  ...helpCommands(help["server.ts"], "server.ts --help"),
  ...helpCommands(help["client.ts"], "client.ts --help"),
  ...markdownCommands(moduleDoc(serverSource), "server.ts module doc"),
  ...markdownCommands(moduleDoc(clientSource), "client.ts module doc"),
];

/** The user's arguments read independently, by the rules README and --help document. */
interface Reading {
  /** Each flag with the index of its first word and how many words it takes. */
  flags: { flag: HelpFlag; at: number; words: number; value?: string }[];
  positionals: string[];
}

function read(args: string[], known: Map<string, HelpFlag>, source: string): Reading {
  const reading: Reading = { flags: [], positionals: [] };
  // A leading -- is dropped (the npm habit); any later one ends the flags.
  for (let at = args[0] === "--" ? 1 : 0; at < args.length; at++) {
    const word = args[at];
    if (word === "--") {
      reading.positionals.push(...args.slice(at + 1));
      break;
    }
    if (!word.startsWith("-") || word === "-") {
      reading.positionals.push(word);
      continue;
    }
    const [given, inline] = word.includes("=")
      ? [word.slice(0, word.indexOf("=")), word.slice(word.indexOf("=") + 1)]
      : [word];
    const flag = known.get(given);
    assert.ok(flag, `${source}: the docs use "${given}", which --help does not list`);
    const value = flag.value ? inline ?? args[at + 1] : undefined;
    reading.flags.push({ flag, at, words: flag.value && inline === undefined ? 2 : 1, value });
    if (flag.value && inline === undefined) at++;
  }
  return reading;
}

/** A parse result as comparable text; streams and the echoed arguments left out. */
function snapshot(parse: () => unknown): string {
  try {
    return JSON.stringify(parse(), (key, value) => {
      if (key === "args") return undefined;
      if (typeof value === "object" && value !== null && Symbol.asyncIterator in value) {
        return "<stream>";
      }
      return value;
    });
  } catch (error) {
    return `throws ${(error as Error).message}`;
  }
}

function checkParse(command: DocCommand, run: ScriptRun) {
  const parse = (args: string[]) => parserOf[run.script]([...run.taskArgs, ...args]);
  const reading = read(run.userArgs, flagsOf[run.script], command.source);
  const parsed = parse(run.userArgs);
  const names = reading.flags.map(({ flag }) => flag.name);
  if (names.includes("help")) return assert.equal(parsed, "help");
  if (names.includes("version")) return assert.equal(parsed, "version");
  assert.ok(typeof parsed === "object");
  if (run.script === "client.ts") {
    const { options } = parsed as Exclude<ReturnType<typeof parseClientArgs>, string>;
    const flagged = reading.flags.find(({ flag }) => flag.name === "message");
    if (flagged) assert.equal(options.message, flagged.value);
    else if (reading.positionals.length > 0) {
      assert.equal(options.message, reading.positionals.join(" "));
    } else assert.notEqual(typeof options.message, "string", "a flag was taken as the message");
  } else {
    assert.deepEqual(reading.positionals, []);
  }
  // Each flag lands somewhere: leaving it out (with its value) changes the result.
  const whole = snapshot(() => parse(run.userArgs));
  for (const { flag, at, words } of reading.flags) {
    if (reading.flags.filter((other) => other.flag === flag).length > 1 && !flag.value) continue;
    const without = [...run.userArgs.slice(0, at), ...run.userArgs.slice(at + words)];
    assert.notEqual(snapshot(() => parse(without)), whole, `"--${flag.name}" had no effect`);
  }
}

const loopback = new Set(["127.0.0.1", "::1", "localhost"]);
const listenable = new Set(["0.0.0.0", "::", "127.0.0.1", "::1"]);

/** Whether the command can run here: TCP to or on loopback, no files, not from a URL. */
function runnable(run: ScriptRun): boolean {
  let parsed;
  try {
    parsed = parserOf[run.script]([...run.taskArgs, ...run.userArgs]);
  } catch {
    return false; // the parse test reports it
  }
  if (typeof parsed !== "object" || run.remote) return false;
  const options = parsed.options as { hostname?: string; path?: string; tls?: unknown };
  if (
    options.path !== undefined || options.tls !== undefined ||
    "tlsFiles" in parsed && parsed.tlsFiles
  ) {
    return false;
  }
  if ("caFile" in parsed && parsed.caFile !== undefined) return false;
  return run.script === "server.ts"
    ? listenable.has(options.hostname ?? "0.0.0.0")
    : loopback.has(options.hostname ?? "127.0.0.1");
}

/** A port free on every address, picked by the system. */
function freePort(): number {
  using listener = Deno.listen({ hostname: "::", port: 0 });
  return (listener.addr as Deno.NetAddr).port;
}

/**
 * The command with its port moved to `port`, in the grant too, and a load
 * run bounded to a fraction of a second.
 */
function rewrite(command: DocCommand, run: ScriptRun, port: number, load: boolean): string[] {
  const reading = read(run.userArgs, flagsOf[run.script], command.source);
  const args = [...run.userArgs];
  let oldPort = "8080";
  for (const { flag, at, words, value } of [...reading.flags].reverse()) {
    const replace = (text: string) =>
      args.splice(at, words, ...(words === 2 ? [args[at], text] : [`--${flag.name}=${text}`]));
    if (flag.name === "port") {
      oldPort = value!;
      replace(String(port));
    } else if (flag.name === "duration") replace("300ms");
    else if (flag.name === "count") replace(String(Math.min(Number(value), 100)));
  }
  const front = args[0] === "--" ? 1 : 0;
  if (!reading.flags.some(({ flag }) => flag.name === "port")) {
    args.splice(front, 0, "--port", String(port));
  }
  if (load && !reading.flags.some(({ flag }) => ["duration", "count"].includes(flag.name))) {
    args.splice(front, 0, "--duration", "300ms");
  }
  if (command.words[0] === "task") return ["task", "-q", command.words[1], ...args];
  const grants = run.denoFlags.map((flag) =>
    flag.startsWith("--allow-net=")
      ? flag.replace(/:(\d+)(?=,|$)/g, (match, given) => given === oldPort ? `:${port}` : match)
      : flag
  );
  const script = command.words[run.denoFlags.length + 1];
  return ["run", ...grants, script, ...args];
}

async function runCommand(command: DocCommand, run: ScriptRun) {
  const port = freePort();
  const parsed = parserOf[run.script]([...run.taskArgs, ...run.userArgs]) as {
    load?: { keepAlive?: boolean };
    options: { message?: unknown };
    json?: boolean;
  };
  const words = rewrite(command, run, port, parsed.load !== undefined);
  if (run.script === "server.ts") {
    await using server = await startListening(words);
    assert.equal(server.port, port, `deno ${words.join(" ")}`);
    return;
  }
  const keepAlive = parsed.load?.keepAlive === true;
  // A single exchange gets its message echoed, so the bytes that went over
  // the wire show where the message landed; a load run gets the lab's reply.
  const echo = parsed.load === undefined;
  await using server = serve({
    hostname: "::",
    port,
    framing: keepAlive ? "line" : "chunk",
    keepAlive,
    echo,
  });
  const { code, stdout, stderr } = await runDeno(words, command.stdin);
  const shown = `deno ${words.join(" ")}`;
  assert.equal(code, 0, `${shown}\n${stderr}`);
  assert.ok(server.stats.connections > 0, shown);
  if (!echo) {
    // The load report: as JSON, or the readable one with its cycle count.
    const cycles = parsed.json ? JSON.parse(stdout).cycles : stdout.match(/cycles +([\d,]+)/)?.[1];
    return assert.ok(cycles, `${shown}\n${stdout}${stderr}`);
  }
  // Without a message or piped input the lab's message goes, unless the
  // session is interactive: then only what is typed (here: nothing) does.
  const interactive = read(run.userArgs, flagsOf[run.script], command.source).flags
    .some(({ flag }) => flag.name === "interactive");
  const sent = typeof parsed.options.message === "string"
    ? parsed.options.message
    : command.stdin
    ? new TextDecoder().decode(command.stdin)
    : interactive
    ? ""
    : DEFAULT_MESSAGE;
  assert.equal(parsed.json ? JSON.parse(stdout).reply : stdout, sent, shown);
}

for (const command of commands) {
  let run: ScriptRun | undefined;
  let unresolved: unknown;
  try {
    run = resolveScript(command.words);
  } catch (error) {
    unresolved = error; // a task deno.json lacks: the parse test reports it
  }
  const shown = `${command.source}: ${command.stdin ? "… | " : ""}${command.line}`;
  Deno.test(`docs command parses: ${shown}`, () => {
    if (unresolved) throw unresolved;
    if (run) checkParse(command, run);
  });
  if (run && !command.usage && runnable(run)) {
    const script = run;
    Deno.test({
      name: `docs command runs: ${shown}`,
      ignore: !canSpawn,
      fn: () => runCommand(command, script),
    });
  }
}
