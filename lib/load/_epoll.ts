/**
 * The load generator's fast engine on Linux: the same cycle as the portable
 * one, driven through epoll with libc's socket calls over Deno's FFI.
 *
 * Why it exists: profiled against our server, the portable engine spends
 * about twice the CPU per cycle of a compiled epoll client (the figures are
 * in the README's performance notes). Our own code is a small part of that; the rest is the runtime's
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

import type { EngineRun } from "./_engine.ts";
import { hasTimeout, sweepPeriod } from "../_time.ts";
import { EAGAIN, EINTR, EPOLL_CLOEXEC, EPOLLERR, EPOLLHUP, EPOLLIN } from "./_libc.ts";
import { EPOLLOUT, EPOLLRDHUP, errnoKind, EVENT_BYTES, EVENT_DATA_OFFSET } from "./_libc.ts";
import { LinuxSockets, MSG_NOSIGNAL, SHUT_WR, socketAddress } from "./_libc.ts";

export { epollUnavailable } from "./_libc.ts";

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
  const linux = new LinuxSockets();
  const c = linux.libc;
  const { payload, concurrency, keepAlive, halfClose, mayStart, tally } = run;
  const address = socketAddress(run.hostname, run.port) as Uint8Array;
  const timeoutMs = hasTimeout(run.cycleTimeout) ? run.cycleTimeout : Infinity;
  const sweepEveryMs = sweepPeriod(timeoutMs);

  const epoll = c.epoll_create1(EPOLL_CLOEXEC);
  if (epoll < 0) throw new Error(`epoll_create1 failed (errno ${linux.errno()})`);

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

  const maxEvents = 256;
  const events = new Uint8Array(EVENT_BYTES * maxEvents);
  const eventsView = new DataView(events.buffer);
  const buffer = new Uint8Array(64 * 1024);

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
  /** Opens a connection for a new cycle; false when it failed at once. */
  const start = (): boolean => {
    tally.started++;
    const fd = linux.open(epoll, address);
    if (fd < 0) {
      tally.fail(errnoKind(-fd));
      return false;
    }
    ensure(fd);
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
        const errno = linux.errno();
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
      const errno = linux.errno();
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
            const errno = linux.socketError(fd);
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
