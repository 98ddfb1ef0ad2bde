/**
 * What the epoll engine needs from Linux: libc's socket and epoll calls over
 * Deno's FFI, the kernel's numbers, a `sockaddr` for the server, and whether
 * the engine can run here at all.
 *
 * @module
 */

import { parseAddress } from "../server/access.ts";
import { formatAddress } from "../_io.ts";

/** Linux's numbers, the same on x86_64 and aarch64. */
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const EPOLL_CLOEXEC = 0o2000000;
export const EPOLL_CTL_ADD = 1;
export const EPOLLIN = 0x1;
export const EPOLLOUT = 0x4;
export const EPOLLERR = 0x8;
export const EPOLLHUP = 0x10;
export const EPOLLRDHUP = 0x2000;
export const EPOLLET = 0x80000000;
export const SOL_SOCKET = 1;
export const SO_ERROR = 4;
export const SHUT_WR = 1;
export const MSG_NOSIGNAL = 0x4000;
export const EINTR = 4;
export const EAGAIN = 11;
const EPIPE = 32;
const ECONNABORTED = 103;
const ECONNRESET = 104;
const ENOTCONN = 107;
const ETIMEDOUT = 110;
const ECONNREFUSED = 111;
export const EINPROGRESS = 115;

/**
 * Lengths and results are declared 32-bit: 64-bit ones cross as BigInts on a
 * slower path, and no length here comes near 2 GiB (both x86_64 and aarch64
 * zero-extend a 32-bit argument).
 */
export const LIBC_SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  send: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  recv: { parameters: ["i32", "buffer", "u32", "i32"], result: "i32" },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  epoll_create1: { parameters: ["i32"], result: "i32" },
  epoll_ctl: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  epoll_wait: { parameters: ["i32", "buffer", "i32", "i32"], result: "i32" },
  /** The same call on a helper thread, so that waiting leaves the event loop free. */
  epoll_wait_off_thread: {
    name: "epoll_wait",
    parameters: ["i32", "buffer", "i32", "i32"],
    result: "i32",
    nonblocking: true,
  },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

export type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

let loaded: Libc | undefined;

/** `struct epoll_event` is packed on x86_64 and padded on aarch64. */
export const EVENT_BYTES = Deno.build.arch === "x86_64" ? 12 : 16;
export const EVENT_DATA_OFFSET = Deno.build.arch === "x86_64" ? 4 : 8;

/** The server's address as a `sockaddr`, or why this engine cannot reach it. */
export function socketAddress(hostname: string, port: number): Uint8Array | string {
  // A name would need resolving as Deno.connect does (localhost is ::1 on
  // some machines, 127.0.0.1 on others), and a zone (fe80::1%eth0) a scope id.
  const parsed = hostname.includes("%") ? undefined : parseAddress(hostname);
  if (!parsed) return `it needs an IP address without a zone, not "${hostname}"`;
  if (parsed.family === 4) {
    const address = new Uint8Array(16);
    const view = new DataView(address.buffer);
    view.setUint16(0, AF_INET, true);
    view.setUint16(2, port, false);
    view.setUint32(4, Number(parsed.value), false);
    return address;
  }
  const address = new Uint8Array(28);
  const view = new DataView(address.buffer);
  view.setUint16(0, AF_INET6, true);
  view.setUint16(2, port, false);
  for (let i = 0; i < 16; i++) {
    address[8 + i] = Number((parsed.value >> BigInt(8 * (15 - i))) & 0xffn);
  }
  return address;
}

/** libc's calls, once {@linkcode epollUnavailable} has said the engine can run. */
export function libc(): Libc {
  if (loaded === undefined) {
    throw new Error("libc.so.6 is not loaded: ask epollUnavailable() first");
  }
  return loaded;
}

/**
 * Why the epoll engine cannot run here, or `undefined` when it can. Never
 * prompts for a permission: without `--allow-ffi` the answer is no.
 */
export function epollUnavailable(hostname: string, port: number): string | undefined {
  if (Deno.build.os !== "linux") return "it runs on Linux only";
  if (Deno.build.arch !== "x86_64" && Deno.build.arch !== "aarch64") {
    return `it does not know ${Deno.build.arch}`;
  }
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    return "it needs --allow-ffi";
  }
  const address = socketAddress(hostname, port);
  if (typeof address === "string") return address;
  // FFI calls bypass Deno's permission checks: honour --allow-net ourselves.
  const target = formatAddress({ hostname, port });
  if (Deno.permissions.querySync({ name: "net", host: target }).state !== "granted") {
    return `it needs --allow-net=${target}`;
  }
  try {
    loaded ??= Deno.dlopen("libc.so.6", LIBC_SYMBOLS).symbols;
  } catch (error) {
    return `it could not load libc.so.6 (${(error as Error).message})`;
  }
  return undefined;
}

export function errnoKind(errno: number): string {
  switch (errno) {
    case ECONNREFUSED:
      return "refused";
    case ECONNRESET:
    case EPIPE:
    case ECONNABORTED:
    case ENOTCONN:
      return "reset";
    case ETIMEDOUT:
      return "timeout";
    default:
      return "other";
  }
}

/**
 * What a non-blocking connect(2) may answer at once (its man page's list,
 * less EINTR, after which the connect goes on as EINPROGRESS would). Any
 * other errno was written after the call returned: the runtime's own calls
 * on this thread share errno, and about one run in thirty read ENOENT here
 * and counted a good cycle as failed. Then the connect is left to epoll,
 * which reports how it went.
 */
const CONNECT_ERRNOS = new Set([
  1, // EPERM
  9, // EBADF
  11, // EAGAIN
  13, // EACCES
  14, // EFAULT
  88, // ENOTSOCK
  91, // EPROTOTYPE
  97, // EAFNOSUPPORT
  98, // EADDRINUSE
  99, // EADDRNOTAVAIL
  101, // ENETUNREACH
  106, // EISCONN
  110, // ETIMEDOUT
  111, // ECONNREFUSED
  114, // EALREADY
]);

/**
 * libc's calls, with the scratch memory that a few of them write through,
 * made once per run so that no call allocates. Make it only once
 * {@linkcode epollUnavailable} has said the engine can run.
 */
export class LinuxSockets {
  readonly libc: Libc;
  #errno: Deno.UnsafePointerView;
  #event = new Uint8Array(EVENT_BYTES);
  #eventView = new DataView(this.#event.buffer);
  #option = new Uint8Array(4);
  #optionView = new DataView(this.#option.buffer);
  #optionLength = new Uint8Array(4);
  #optionLengthView = new DataView(this.#optionLength.buffer);

  constructor() {
    if (loaded === undefined) throw new Error("libc.so.6 is not loaded: ask epollUnavailable()");
    this.libc = loaded;
    this.#errno = new Deno.UnsafePointerView(loaded.__errno_location()!);
  }

  /** The calling thread's `errno`. */
  errno(): number {
    return this.#errno.getInt32();
  }

  /**
   * A non-blocking socket that is connecting to `address` (a `sockaddr`),
   * registered with `epoll`; or minus the errno of the call that failed.
   */
  open(epoll: number, address: Uint8Array): number {
    const c = this.libc;
    const family = address.length === 16 ? AF_INET : AF_INET6;
    const fd = c.socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -this.errno();
    if (c.connect(fd, address, address.length) !== 0) {
      const errno = this.errno();
      if (errno !== EINPROGRESS && CONNECT_ERRNOS.has(errno)) {
        c.close(fd);
        return -errno;
      }
    }
    // Edge-triggered, for reading and writing at once: one epoll_ctl per
    // connection, and close() removes it.
    this.#eventView.setUint32(0, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, true);
    this.#eventView.setUint32(EVENT_DATA_OFFSET, fd, true);
    this.#eventView.setUint32(EVENT_DATA_OFFSET + 4, 0, true);
    if (c.epoll_ctl(epoll, EPOLL_CTL_ADD, fd, this.#event) !== 0) {
      const errno = this.errno();
      c.close(fd);
      return -errno;
    }
    return fd;
  }

  /** The error pending on `fd` (`SO_ERROR`), or the errno of asking for it. */
  socketError(fd: number): number {
    this.#optionLengthView.setUint32(0, 4, true);
    const c = this.libc;
    if (c.getsockopt(fd, SOL_SOCKET, SO_ERROR, this.#option, this.#optionLength) !== 0) {
      return this.errno();
    }
    return this.#optionView.getInt32(0, true);
  }
}
