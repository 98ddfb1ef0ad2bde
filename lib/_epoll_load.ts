/**
 * The load generator's fast engine on Linux: the same cycle as the portable
 * one, driven through epoll with libc's socket calls over Deno's FFI.
 *
 * Why it exists: profiled against our server, the portable engine spends
 * about 90 µs of CPU per cycle, against about 40 µs for a compiled epoll
 * client. Our own code is a small part of that; the rest is the runtime's
 * work around each of the cycle's five operations (a promise, a resource, an
 * address object, and the `getsockname`, `getpeername` and `shutdown` calls
 * Deno makes on every connection). On a two-core machine the load generator
 * shares the CPU with the server it measures, so that cost showed up as a
 * slower server. Here a cycle is only the system calls it needs:
 * `socket`, `connect`, `epoll_ctl`, `send`, `recv` and `close`.
 *
 * The loop runs on the main thread in slices of about 20 ms, yielding to the
 * event loop between them so that timers (the progress line) and signals
 * (Ctrl-C) still run. It needs `--allow-ffi`, which amounts to full access;
 * without it `runLoad` uses the portable engine.
 *
 * @module
 */

import { parseAddress } from "./access.ts";
import { formatAddress } from "./_io.ts";
import type { EngineRun } from "./_load_engine.ts";

/** Linux's numbers, the same on x86_64 and aarch64. */
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const EPOLL_CLOEXEC = 0o2000000;
const EPOLL_CTL_ADD = 1;
const EPOLLIN = 0x1;
const EPOLLOUT = 0x4;
const EPOLLERR = 0x8;
const EPOLLHUP = 0x10;
const EPOLLRDHUP = 0x2000;
const EPOLLET = 0x80000000;
const SOL_SOCKET = 1;
const SO_ERROR = 4;
const SHUT_WR = 1;
const MSG_NOSIGNAL = 0x4000;
const EINTR = 4;
const EAGAIN = 11;
const EPIPE = 32;
const ECONNABORTED = 103;
const ECONNRESET = 104;
const ENOTCONN = 107;
const ETIMEDOUT = 110;
const ECONNREFUSED = 111;
const EINPROGRESS = 115;

/**
 * Lengths and results are declared 32-bit: 64-bit ones cross as BigInts on a
 * slower path, and no length here comes near 2 GiB (both x86_64 and aarch64
 * zero-extend a 32-bit argument).
 */
const LIBC_SYMBOLS = {
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

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

let libc: Libc | undefined;

/** `struct epoll_event` is packed on x86_64 and padded on aarch64. */
const EVENT_BYTES = Deno.build.arch === "x86_64" ? 12 : 16;
const EVENT_DATA_OFFSET = Deno.build.arch === "x86_64" ? 4 : 8;

/** The server's address as a `sockaddr`, or why this engine cannot reach it. */
function socketAddress(hostname: string, port: number): Uint8Array | string {
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
    libc ??= Deno.dlopen("libc.so.6", LIBC_SYMBOLS).symbols;
  } catch (error) {
    return `it could not load libc.so.6 (${(error as Error).message})`;
  }
  return undefined;
}

function errnoKind(errno: number): string {
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

/** Where a connection is in its cycle. */
const IDLE = 0;
const CONNECTING = 1;
const SENDING = 2;
const READING = 3;

/** What `peerClosed` records: a FIN, or an error (a reset). */
const PEER_FIN = 1;
const PEER_FAILED = 2;

/** How long a busy loop runs between yields to the event loop, in milliseconds. */
const SLICE_MS = 20;
/** How long to poll without waiting before waiting on a helper thread, in milliseconds. */
const SPIN_MS = 0.1;
/** The longest wait for an event before checking timeouts and the clock again. */
const WAIT_MS = 10;

/**
 * Runs the cycles until `mayStart` says stop and every open cycle has ended.
 * Call {@linkcode epollUnavailable} first: this assumes it said yes.
 */
export async function runEpollLoad(run: EngineRun): Promise<void> {
  const c = libc!;
  const { payload, concurrency, keepAlive, halfClose, mayStart, tally } = run;
  const address = socketAddress(run.hostname, run.port) as Uint8Array;
  const family = address.length === 16 ? AF_INET : AF_INET6;
  const errnoView = new Deno.UnsafePointerView(c.__errno_location()!);
  const timeoutMs = run.cycleTimeout > 0 && Number.isFinite(run.cycleTimeout)
    ? run.cycleTimeout
    : Infinity;
  const sweepEveryMs = Math.min(1000, Math.max(10, timeoutMs / 4));

  const epoll = c.epoll_create1(EPOLL_CLOEXEC);
  if (epoll < 0) throw new Error(`epoll_create1 failed (errno ${errnoView.getInt32()})`);

  // Per-descriptor state, indexed by fd and grown as descriptors grow.
  let phase = new Uint8Array(Math.max(1024, concurrency * 2));
  let readable = new Uint8Array(phase.length);
  // Set once the peer's FIN has been reported: epoll reports it once, and it
  // may come while the message is still being sent.
  let peerClosed = new Uint8Array(phase.length);
  let sentBytes = new Uint32Array(phase.length);
  let since = new Float64Array(phase.length);
  // Whether this cycle's reply has begun: a cycle that ends without one failed (no-reply).
  let replied = new Uint8Array(phase.length);
  const ensure = (fd: number) => {
    if (fd < phase.length) return;
    const length = Math.max(fd + 1, phase.length * 2);
    const grow = <T extends Uint8Array | Uint32Array | Float64Array>(old: T, fresh: T): T => {
      fresh.set(old);
      return fresh;
    };
    phase = grow(phase, new Uint8Array(length));
    readable = grow(readable, new Uint8Array(length));
    peerClosed = grow(peerClosed, new Uint8Array(length));
    sentBytes = grow(sentBytes, new Uint32Array(length));
    since = grow(since, new Float64Array(length));
    replied = grow(replied, new Uint8Array(length));
  };
  // The highest descriptor used: the timeout sweep and the clean-up scan to it.
  let highestFd = -1;

  const event = new Uint8Array(EVENT_BYTES);
  const eventView = new DataView(event.buffer);
  const maxEvents = 256;
  const events = new Uint8Array(EVENT_BYTES * maxEvents);
  const eventsView = new DataView(events.buffer);
  const buffer = new Uint8Array(64 * 1024);
  const option = new Uint8Array(4);
  const optionView = new DataView(option.buffer);
  const optionLength = new Uint8Array(4);
  const optionLengthView = new DataView(optionLength.buffer);

  let active = 0;
  let pendingStarts = 0;

  const finish = (fd: number) => {
    c.close(fd);
    phase[fd] = IDLE;
    active--;
  };
  const fail = (fd: number, kind: string) => {
    finish(fd);
    tally.fail(kind);
    pendingStarts++;
  };
  const socketError = (fd: number): number => {
    optionLengthView.setUint32(0, 4, true);
    if (c.getsockopt(fd, SOL_SOCKET, SO_ERROR, option, optionLength) !== 0) {
      return errnoView.getInt32();
    }
    return optionView.getInt32(0, true);
  };

  /** Opens a connection for a new cycle; false when it failed at once. */
  const start = (): boolean => {
    tally.started++;
    const fd = c.socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      tally.fail(errnoKind(errnoView.getInt32()));
      return false;
    }
    if (c.connect(fd, address, address.length) !== 0) {
      const errno = errnoView.getInt32();
      if (errno !== EINPROGRESS) {
        c.close(fd);
        tally.fail(errnoKind(errno));
        return false;
      }
    }
    ensure(fd);
    // Edge-triggered, for reading and writing at once: one epoll_ctl per
    // connection, and close() removes it.
    eventView.setUint32(0, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, true);
    eventView.setUint32(EVENT_DATA_OFFSET, fd, true);
    eventView.setUint32(EVENT_DATA_OFFSET + 4, 0, true);
    if (c.epoll_ctl(epoll, EPOLL_CTL_ADD, fd, event) !== 0) {
      const errno = errnoView.getInt32();
      c.close(fd);
      tally.fail(errnoKind(errno));
      return false;
    }
    phase[fd] = CONNECTING;
    readable[fd] = 0;
    peerClosed[fd] = 0;
    sentBytes[fd] = 0;
    replied[fd] = 0;
    since[fd] = performance.now();
    if (fd > highestFd) highestFd = fd;
    active++;
    return true;
  };

  /** Sends what is left of the message; false when the cycle failed. */
  const send = (fd: number): boolean => {
    while (sentBytes[fd] < payload.length) {
      const offset = sentBytes[fd];
      // At most 1 MiB per call keeps the count well inside 32 bits.
      const count = c.send(
        fd,
        offset === 0 ? payload : payload.subarray(offset),
        Math.min(payload.length - offset, 1 << 20),
        MSG_NOSIGNAL,
      );
      if (count < 0) {
        const errno = errnoView.getInt32();
        if (errno === EAGAIN) return true; // the next EPOLLOUT edge resumes
        if (errno === EINTR) continue;
        fail(fd, errnoKind(errno));
        return false;
      }
      sentBytes[fd] = offset + count;
      tally.bytesSent += count;
    }
    if (halfClose && !keepAlive) c.shutdown(fd, SHUT_WR);
    phase[fd] = READING;
    return true;
  };

  /** The cycle on `fd` is complete: record it and begin the next one. */
  const complete = (fd: number) => {
    if (!keepAlive && !replied[fd]) return fail(fd, "no-reply");
    const now = performance.now();
    tally.addSample(now - since[fd]);
    tally.cycles++;
    if (keepAlive && mayStart()) {
      tally.started++;
      since[fd] = now;
      sentBytes[fd] = 0;
      phase[fd] = SENDING;
      // A peer that has closed sends no further edge: read its EOF now.
      if (send(fd) && (readable[fd] || peerClosed[fd])) receive(fd);
      return;
    }
    finish(fd);
    if (!keepAlive) pendingStarts++;
  };

  /**
   * Reads what has arrived. A read that does
   * not fill the buffer has taken everything queued, so the next edge, not
   * another read, says when there is more: that saves a call per cycle.
   */
  const receive = (fd: number): void => {
    while (true) {
      const count = c.recv(fd, buffer, buffer.length, 0);
      if (count > 0) {
        tally.bytesReceived += count;
        replied[fd] = 1;
        const drained = count < buffer.length;
        if (drained) readable[fd] = 0;
        // With keepAlive, one reply line per cycle: a newline completes it.
        if (keepAlive && buffer.subarray(0, count).includes(0x0a)) return complete(fd);
        if (!drained) continue;
        // Once the peer has closed or failed, no further edge will come:
        // everything it sent is queued ahead of the FIN, so a short read has
        // reached the end. Unless that is a normal end, read on to the EOF
        // or the error, which the next read returns at once.
        if (peerClosed[fd]) {
          if (!keepAlive && peerClosed[fd] === PEER_FIN) return complete(fd);
          continue;
        }
        return;
      }
      if (count === 0) {
        if (keepAlive) return fail(fd, "reset");
        return complete(fd);
      }
      const errno = errnoView.getInt32();
      if (errno === EINTR) continue;
      if (errno === EAGAIN) {
        readable[fd] = 0;
        return;
      }
      return fail(fd, errnoKind(errno));
    }
  };

  const sweep = (now: number) => {
    for (let fd = 0; fd <= highestFd; fd++) {
      if (phase[fd] !== IDLE && now - since[fd] > timeoutMs) fail(fd, "timeout");
    }
  };

  const channel = new MessageChannel();
  const yieldToEventLoop = () =>
    new Promise<void>((resolve) => {
      channel.port1.onmessage = () => resolve();
      channel.port2.postMessage(null);
    });

  try {
    pendingStarts = concurrency;
    let lastSweep = performance.now();
    let sliceStart = lastSweep;
    while (true) {
      // Begin the cycles that are due, unless the run is ending.
      let starts = pendingStarts;
      pendingStarts = 0;
      while (starts-- > 0 && mayStart()) {
        // A connect that fails at once is retried on the next pass, not
        // here, so that a server that is down cannot pin this loop.
        if (!start()) pendingStarts++;
      }
      if (pendingStarts > 0 && !mayStart()) pendingStarts = 0;
      if (active === 0 && pendingStarts === 0) return;
      // Under load there is nearly always something ready: ask without
      // waiting, and keep asking for a moment, since a reply on loopback
      // takes tens of microseconds. Only then wait on a helper thread, which
      // leaves the event loop free (for a server in this same process, say)
      // but adds a thread switch to the cycle.
      let ready = c.epoll_wait(epoll, events, maxEvents, 0);
      if (ready <= 0 && pendingStarts === 0) {
        const spinUntil = performance.now() + SPIN_MS;
        do ready = c.epoll_wait(epoll, events, maxEvents, 0); while (
          ready <= 0 && performance.now() < spinUntil
        );
      }
      if (ready <= 0 && pendingStarts === 0) {
        ready = await c.epoll_wait_off_thread(epoll, events, maxEvents, WAIT_MS);
        sliceStart = performance.now();
      }
      for (let i = 0; i < ready; i++) {
        const base = i * EVENT_BYTES;
        const flags = eventsView.getUint32(base, true);
        const fd = eventsView.getUint32(base + EVENT_DATA_OFFSET, true);
        if (phase[fd] === IDLE) continue; // failed earlier in this batch
        if (flags & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) readable[fd] = 1;
        if (flags & EPOLLERR) peerClosed[fd] = PEER_FAILED;
        else if (flags & (EPOLLRDHUP | EPOLLHUP) && !peerClosed[fd]) peerClosed[fd] = PEER_FIN;
        if (phase[fd] === CONNECTING) {
          if (flags & (EPOLLERR | EPOLLHUP)) {
            const errno = socketError(fd);
            if (errno !== 0 || !(flags & EPOLLOUT)) {
              fail(fd, errno === 0 ? "reset" : errnoKind(errno));
              continue;
            }
          }
          if (!(flags & EPOLLOUT)) continue;
          phase[fd] = SENDING;
        }
        // Sending again after a full send buffer, or for the first time.
        if (phase[fd] === SENDING && !send(fd)) continue;
        if (phase[fd] === READING && readable[fd]) receive(fd);
      }
      const now = performance.now();
      if (now - lastSweep >= sweepEveryMs) {
        lastSweep = now;
        sweep(now);
      }
      // Busy for a while: let timers (the progress line) and signals run.
      if (now - sliceStart >= SLICE_MS) {
        await yieldToEventLoop();
        sliceStart = performance.now();
      }
    }
  } finally {
    for (let fd = 0; fd <= highestFd; fd++) {
      if (phase[fd] !== IDLE) c.close(fd);
    }
    c.close(epoll);
    channel.port1.close();
    channel.port2.close();
  }
}
