/**
 * Errors that say what failed and where, as Go's `net.OpError` does:
 * `Cannot connect to "127.0.0.1:7": connection refused`. The client and the
 * server build theirs here, so every such message has one shape, and every
 * one keeps the class of the error it wraps: callers match errors with
 * `instanceof`, never by their text.
 *
 * @module
 */

/**
 * The class of Deno's own error named `name` (`"ConnectionRefused"`), or
 * `Error`: to rebuild an error with more context, or one that crossed a
 * worker's boundary, as the class callers match with `instanceof`.
 */
export function denoErrorClass(name: string): ErrorConstructor {
  const classes = Deno.errors as unknown as Record<string, ErrorConstructor>;
  return Object.hasOwn(classes, name) ? classes[name] : Error;
}

/** Whether an I/O error means the peer reset or left, rather than a local fault. */
export function isPeerGone(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.UnexpectedEof ||
    error instanceof Deno.errors.NotConnected;
}

/**
 * An error's message as the detail after a colon: first letter lowercased,
 * without the `(os error N)` suffix, which only repeats it.
 */
export function errorDetail(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const message = error.message.replace(/ \(os error \d+\)$/, "");
  return message.charAt(0).toLowerCase() + message.slice(1);
}

/**
 * Rebuilds `cause` as `context: detail`, keeping its class when it is one
 * of Deno's (so `instanceof Deno.errors.ConnectionRefused` still holds) and
 * the original as `cause`. `detail` defaults to the cause's own message.
 */
export function withContext(
  cause: unknown,
  context: string,
  detail: string = errorDetail(cause),
): Error {
  if (!(cause instanceof Error)) return new Error(`${context}: ${detail}`);
  const ErrorClass = denoErrorClass(cause.name) === cause.constructor
    ? cause.constructor as ErrorConstructor
    : Error;
  return new ErrorClass(`${context}: ${detail}`, { cause });
}

/**
 * The operation and the address in front of the cause:
 * `opError("Cannot connect to", "127.0.0.1:7", error)` gives
 * `Cannot connect to "127.0.0.1:7": connection refused`.
 */
export function opError(
  operation: string,
  address: string,
  cause: unknown,
  detail?: string,
): Error {
  return withContext(cause, `${operation} "${address}"`, detail);
}

/** The permissions a command may lack, as `--allow-NAME` flags name them. */
export type PermissionName = "net" | "read" | "write" | "ffi";

/**
 * A permission this process lacks, with what it would need: the scripts
 * print the command that works from `permission` and `target`. A
 * `Deno.errors.NotCapable`, worded as Deno words its own.
 */
export class MissingPermission extends Deno.errors.NotCapable {
  /** Which permission: `net`, `read`, `write` or `ffi`. */
  readonly permission: PermissionName;
  /** What it is needed for: `host:port`, `unix:PATH` or a file's path. */
  readonly target: string;

  constructor(permission: PermissionName, target: string, options?: ErrorOptions) {
    super(
      `Requires ${permission} access to "${target}", run again with the --allow-${permission} flag`,
      options,
    );
    this.permission = permission;
    this.target = target;
  }
}
