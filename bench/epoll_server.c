/*
 * The yardstick for bursts: the lab's server in C with epoll and a 4096
 * backlog. One thread; accept, one read, reply, close.
 * bench/run.ts builds it with the system's C compiler when there is one.
 * Usage: epoll_server  -> prints "Listening on 127.0.0.1:PORT"
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static const char reply[] = "Thanks for connecting";

int main(void) {
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
  inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  if (bind(listener, (struct sockaddr *)&address, sizeof address) < 0 ||
      listen(listener, 4096) < 0) {
    perror("listen");
    return 1;
  }
  socklen_t length = sizeof address;
  getsockname(listener, (struct sockaddr *)&address, &length);
  printf("Listening on 127.0.0.1:%d\n", ntohs(address.sin_port));
  fflush(stdout);
  int epoll = epoll_create1(0);
  struct epoll_event event = {.events = EPOLLIN, .data.fd = listener};
  epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &event);
  struct epoll_event events[256];
  char buffer[1024];
  for (;;) {
    int ready = epoll_wait(epoll, events, 256, -1);
    for (int i = 0; i < ready; i++) {
      int fd = events[i].data.fd;
      if (fd == listener) {
        int client;
        while ((client = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          struct epoll_event readable = {.events = EPOLLIN, .data.fd = client};
          epoll_ctl(epoll, EPOLL_CTL_ADD, client, &readable);
        }
      } else {
        ssize_t count = read(fd, buffer, sizeof buffer);
        if (count < 0 && errno == EAGAIN) continue;
        if (count > 0) (void)!write(fd, reply, sizeof reply - 1);
        close(fd);
      }
    }
  }
}
