/**
 * The shell commands the docs show, found wherever they are: ```sh blocks
 * and `$ ` lines in README.md, and the Usage and Examples lines of each
 * script's `--help`. Each is resolved to the script it runs and the
 * arguments that script receives, as `deno task` and `deno run` would.
 *
 * @module
 */

import denoJson from "../deno.json" with { type: "json" };
import { splitWords } from "./_commands.ts";

/** One command as the docs show it. */
export interface DocCommand {
  /** Where it is shown: `README.md:204` or `client.ts --help`. */
  source: string;
  /** The command line as shown, one pipeline stage. */
  line: string;
  /** Its words after `deno` (`task client -- hi`, `run … client.ts hi`). */
  words: string[];
  /** What a `printf` or `echo` before the `|` writes to its standard input. */
  stdin?: Uint8Array;
  /** A help text's Usage line: placeholders removed, parsed but never run. */
  usage?: boolean;
}

/** What a command runs: a script, with Deno's flags and the script's arguments. */
export interface ScriptRun {
  script: "server.ts" | "client.ts";
  /** A URL, not a file of this repository: parsed, never run. */
  remote: boolean;
  /** Deno's flags (`--allow-net=…`), from the task or the command. */
  denoFlags: string[];
  /** Arguments the task puts before the user's (`--load`, `--workers 2`). */
  taskArgs: string[];
  /** The arguments as typed after the task or script name. */
  userArgs: string[];
}

const fence = /^(\s*)(```+|~~~+)\s*([\w-]*)/;

/** Every command in a Markdown text's sh blocks, and every `$ ` line in any block. */
export function markdownCommands(markdown: string, file: string): DocCommand[] {
  const commands: DocCommand[] = [];
  const lines = markdown.split("\n");
  let block: { marker: string; shell: boolean } | undefined;
  for (let index = 0; index < lines.length; index++) {
    const match = lines[index].match(fence);
    if (match && (!block || match[2].startsWith(block.marker))) {
      block = block
        ? undefined
        : { marker: match[2], shell: ["sh", "bash", "shell", "console"].includes(match[3]) };
      continue;
    }
    if (!block) continue;
    const number = index + 1;
    let text = lines[index].trim();
    if (text.startsWith("$ ")) text = text.slice(2);
    else if (!block.shell) continue;
    while (text.endsWith("\\") && index + 1 < lines.length) {
      text = text.slice(0, -1) + lines[++index];
    }
    commands.push(...pipelineCommands(text, `${file}:${number}`));
  }
  return commands;
}

/** The Usage and Examples lines of a `--help` text. */
export function helpCommands(help: string, source: string): DocCommand[] {
  const commands: DocCommand[] = [];
  let section: "usage" | "examples" | undefined;
  for (const raw of help.split("\n")) {
    if (raw.startsWith("Usage:")) section = "usage";
    else if (raw.startsWith("Examples:")) {
      section = "examples";
      continue;
    } else if (raw.trim() === "" || !raw.startsWith(" ")) section = undefined;
    if (!section) continue;
    // A note after a run of spaces, such as "(needs --allow-ffi)", is not part of it.
    let text = raw.replace(/^Usage:/, "").trim().replace(/\s{2,}\(.*\)$/, "");
    if (section === "usage") text = text.replace(/\s*\[[^\]]*\]/g, "");
    for (const command of pipelineCommands(text, source)) {
      commands.push(section === "usage" ? { ...command, usage: true } : command);
    }
  }
  return commands;
}

/** The `deno` commands of one shell line: stages of `|`, `&&`, `;`, with piped printf input. */
function pipelineCommands(text: string, source: string): DocCommand[] {
  const commands: DocCommand[] = [];
  let stdin: Uint8Array | undefined;
  for (const stage of splitStages(text)) {
    const words = splitWords(stage.text);
    if (words[0] === "deno" && words.length > 1) {
      commands.push({ source, line: stage.text.trim(), words: words.slice(1), stdin });
    }
    stdin = stage.pipe ? producedBy(words) : undefined;
  }
  return commands;
}

/** Splits at unquoted `|`, `&&` and `;`; `pipe` says whether a `|` follows. */
function splitStages(text: string): { text: string; pipe: boolean }[] {
  const stages: { text: string; pipe: boolean }[] = [];
  let quote: string | undefined;
  let start = 0;
  let end = text.length;
  for (let index = 0; index < text.length; index++) {
    const char = text[index];
    if (quote) {
      if (char === quote) quote = undefined;
      else if (char === "\\" && quote === '"') index++;
    } else if (char === "'" || char === '"') quote = char;
    else if (char === "\\") index++;
    else if (char === "#" && /\s/.test(text[index - 1] ?? " ")) {
      end = index;
      break;
    } else if (char === "|" || char === ";" || (char === "&" && text[index + 1] === "&")) {
      stages.push({
        text: text.slice(start, index),
        pipe: char === "|" && text[index + 1] !== "|",
      });
      if (text[index + 1] === char) index++;
      start = index + 1;
    }
  }
  stages.push({ text: text.slice(start, end), pipe: false });
  return stages;
}

/** What `printf FORMAT` or `echo WORDS` writes; undefined for anything else. */
function producedBy(words: string[]): Uint8Array | undefined {
  const escapes: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\" };
  if (words[0] === "printf" && words.length === 2) {
    const text = words[1].replace(/\\(.)/g, (_, char) => escapes[char] ?? `\\${char}`);
    return new TextEncoder().encode(text.replaceAll("%%", "%"));
  }
  if (words[0] === "echo") return new TextEncoder().encode(words.slice(1).join(" ") + "\n");
  return undefined;
}

const tasks: Record<string, string> = denoJson.tasks;

/**
 * The script a command runs and the arguments it gets, or `undefined` when
 * it runs something else (`deno task test`, `deno test`). Throws for a task
 * deno.json does not have.
 */
export function resolveScript(words: string[]): ScriptRun | undefined {
  let denoFlags: string[];
  let rest: string[];
  let userArgs: string[];
  let taskArgs: string[] = [];
  if (words[0] === "task") {
    const name = words[1];
    if (!(name in tasks)) throw new Error(`No task "${name}" in deno.json`);
    const taskWords = splitWords(tasks[name]);
    if (taskWords[0] !== "deno" || taskWords[1] !== "run") return undefined;
    ({ flags: denoFlags, rest } = runArgs(taskWords.slice(2)));
    taskArgs = rest.slice(1);
    userArgs = words.slice(2);
  } else if (words[0] === "run") {
    ({ flags: denoFlags, rest } = runArgs(words.slice(1)));
    userArgs = rest.slice(1);
  } else {
    return undefined;
  }
  const target = rest[0] ?? "";
  const script = target.split("/").pop();
  if (script !== "server.ts" && script !== "client.ts") return undefined;
  return { script, remote: /^https?:/.test(target), denoFlags, taskArgs, userArgs };
}

/** Splits `deno run`'s own flags from the script and its arguments. */
function runArgs(words: string[]): { flags: string[]; rest: string[] } {
  const at = words.findIndex((word) => !word.startsWith("-"));
  return at === -1
    ? { flags: words, rest: [] }
    : { flags: words.slice(0, at), rest: words.slice(at) };
}

/** A flag as `--help` lists it: its long name, one-letter alias, and whether it takes a value. */
export interface HelpFlag {
  name: string;
  short?: string;
  value: boolean;
}

/**
 * The flags a `--help` text lists, from lines such as
 * `  -p, --port PORT   …` and `  --cert FILE --key FILE   …`.
 */
export function helpFlags(help: string): Map<string, HelpFlag> {
  const flags = new Map<string, HelpFlag>();
  for (const line of help.split("\n")) {
    const column = line.match(/^ {2,}(-[^ ].*?)(?: {2,}|$)/)?.[1];
    if (!column) continue;
    for (
      const [, letter, name, value] of column.matchAll(/(?:-(\w), )?--([a-z][\w-]*)( [A-Z]+)?/g)
    ) {
      const flag = { name, short: letter, value: value !== undefined };
      flags.set(`--${name}`, flag);
      if (letter) flags.set(`-${letter}`, flag);
    }
  }
  return flags;
}
