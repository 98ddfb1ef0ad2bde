/*
 * The yardstick for the load generator: the same cycle (connect, send 15
 * bytes, read the reply to EOF, close) from one thread with epoll, compiled.
 * bench/run.ts builds it with the system's C compiler when there is one.
 * Usage: epoll_load PORT CONCURRENCY DURATION_MS  -> {"cycles":N,"errors":N,"elapsedMs":N}
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in target;
static const char message[] = "Hai from client";
static long cycles = 0, errors = 0;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int start(int epoll) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (struct sockaddr *)&target, sizeof target) < 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  struct epoll_event event = {.events = EPOLLOUT, .data.fd = fd};
  epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
  return fd;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: epoll_load PORT CONCURRENCY DURATION_MS\n");
    return 2;
  }
  target.sin_family = AF_INET;
  target.sin_port = htons(atoi(argv[1]));
  inet_pton(AF_INET, "127.0.0.1", &target.sin_addr);
  int concurrency = atoi(argv[2]);
  double deadline = now_ms() + atof(argv[3]);
  int epoll = epoll_create1(0);
  int active = 0;
  for (int i = 0; i < concurrency; i++) active += start(epoll) >= 0;
  struct epoll_event events[256];
  char buffer[65536];
  double began = now_ms();
  while (active > 0) {
    int ready = epoll_wait(epoll, events, 256, 100);
    int stopping = now_ms() >= deadline;
    for (int i = 0; i < ready; i++) {
      int fd = events[i].data.fd;
      int done = 0, failed = 0;
      if (events[i].events & EPOLLOUT) {
        int error = 0;
        socklen_t length = sizeof error;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
        if (error || write(fd, message, sizeof message - 1) != (ssize_t)(sizeof message - 1)) {
          failed = 1;
        } else {
          struct epoll_event event = {.events = EPOLLIN, .data.fd = fd};
          epoll_ctl(epoll, EPOLL_CTL_MOD, fd, &event);
        }
      } else if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        for (;;) {
          ssize_t count = read(fd, buffer, sizeof buffer);
          if (count > 0) continue;
          if (count == 0) done = 1;
          else if (errno != EAGAIN) failed = 1;
          break;
        }
      }
      if (done || failed) {
        close(fd);
        if (done) cycles++;
        else errors++;
        active--;
        if (!stopping && start(epoll) >= 0) active++;
      }
    }
  }
  printf("{\"cycles\":%ld,\"errors\":%ld,\"elapsedMs\":%.1f}\n", cycles, errors, now_ms() - began);
  return 0;
}
