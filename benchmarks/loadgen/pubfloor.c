/* Pub/sub benchmark floor: a C server that writes the same prebuilt frames to every socket.
 *
 * usage: pubfloor PORT
 * Accepts connections and answers the HTTP upgrade. A text frame "go K SIZE" from any
 * client makes it build K unmasked binary frames of SIZE bytes once, and send them to
 * every open connection with one send() each (the syscall floor of fan-out; a socket
 * that does not take everything gets the rest with blocking sends). Nothing else is
 * parsed: not a real server.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wsutil.h"

#define MAXC 65536
static int open_fd[MAXC];
static char *hs[MAXC]; /* handshake bytes so far, until the upgrade is answered */
static size_t hslen[MAXC];

static void send_all(int fd, const unsigned char *p, size_t n) {
    while (n) {
        ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
        if (r > 0) { p += r; n -= (size_t)r; continue; }
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            poll(&pf, 1, 1000);
            continue;
        }
        return;
    }
}

static void broadcast(int k, int size) {
    size_t hl = size < 126 ? 2 : size < 65536 ? 4 : 10;
    size_t fl = hl + (size_t)size, total = fl * (size_t)k;
    unsigned char *buf = malloc(total);
    if (!buf) return;
    for (int i = 0; i < k; i++) {
        unsigned char *f = buf + fl * (size_t)i;
        f[0] = 0x82;
        if (hl == 2) f[1] = (unsigned char)size;
        else if (hl == 4) { f[1] = 126; f[2] = (unsigned char)(size >> 8); f[3] = (unsigned char)size; }
        else { f[1] = 127; for (int j = 0; j < 8; j++) f[2 + j] = (unsigned char)((uint64_t)size >> (56 - 8 * j)); }
        memset(f + hl, 'x', (size_t)size);
    }
    for (int fd = 0; fd < MAXC; fd++)
        if (open_fd[fd] == 2) send_all(fd, buf, total);
    free(buf);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: pubfloor PORT\n"); return 2; }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1]))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    if (bind(ls, (struct sockaddr *)&sa, sizeof sa) || listen(ls, 4096)) { perror("bind/listen"); return 1; }
    socklen_t sl = sizeof sa;
    getsockname(ls, (struct sockaddr *)&sa, &sl);
    printf("listening on ws://127.0.0.1:%d/\n", ntohs(sa.sin_port));
    fflush(stdout);
    int ep = epoll_create1(0);
    struct epoll_event e = {.events = EPOLLIN, .data.fd = ls};
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &e);
    struct epoll_event evs[256];
    static unsigned char rb[65536];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == ls) {
                int c = accept(ls, NULL, NULL);
                if (c < 0 || c >= MAXC) { if (c >= 0) close(c); continue; }
                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                open_fd[c] = 1;
                struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                continue;
            }
            ssize_t r = recv(fd, rb, sizeof rb - 1, 0);
            if (r <= 0) {
                open_fd[fd] = 0; free(hs[fd]); hs[fd] = NULL; hslen[fd] = 0;
                close(fd);
                continue;
            }
            if (open_fd[fd] == 1) {
                hs[fd] = realloc(hs[fd], hslen[fd] + (size_t)r + 1);
                memcpy(hs[fd] + hslen[fd], rb, (size_t)r);
                hslen[fd] += (size_t)r;
                hs[fd][hslen[fd]] = 0;
                if (!strstr(hs[fd], "\r\n\r\n")) continue;
                char *k = strcasestr(hs[fd], "Sec-WebSocket-Key:");
                if (!k) { close(fd); open_fd[fd] = 0; continue; }
                k += 18;
                while (*k == ' ') k++;
                size_t kl = strcspn(k, "\r\n");
                char acc[64], resp[256];
                ws_accept(k, kl, acc);
                int m = snprintf(resp, sizeof resp, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                 "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", acc);
                send_all(fd, (unsigned char *)resp, (size_t)m);
                free(hs[fd]); hs[fd] = NULL; hslen[fd] = 0;
                open_fd[fd] = 2;
                continue;
            }
            /* a client frame: unmask its payload and look for "go K SIZE" */
            if (r >= 6 && (rb[0] & 0x0f) == 1) {
                size_t len = rb[1] & 0x7f;
                if (len < 126 && (size_t)r >= 6 + len) {
                    unsigned char *mk = rb + 2;
                    char cmd[128];
                    for (size_t j = 0; j < len && j < sizeof cmd - 1; j++) cmd[j] = (char)(rb[6 + j] ^ mk[j % 4]);
                    cmd[len < sizeof cmd - 1 ? len : sizeof cmd - 1] = 0;
                    int kk, size;
                    if (sscanf(cmd, "go %d %d", &kk, &size) == 2 && kk > 0 && kk <= 1000 && size >= 0 && size <= (1 << 20))
                        broadcast(kk, size);
                }
            }
        }
    }
}
