/* Reference WebSocket echo server in C: the ceiling of the server benchmarks.
 *
 * One thread, epoll, non-blocking sockets. It does the HTTP upgrade, then parses
 * frames minimally (no UTF-8 check, no message reassembly: every frame is echoed
 * as a frame with its opcode and FIN bit, unmasked), answers pings and close frames,
 * and sends everything produced by one read in one send. Not a real server: it
 * exists to show what the kernel and the load generator cost on their own.
 *
 * usage: refecho PORT [HOST]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
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

typedef struct {
    int fd;
    int open;    /* handshake done */
    int closing; /* close sent: close the socket once the output is flushed */
    uint8_t *in;
    size_t inlen, incap;
    uint8_t *out;
    size_t outlen, outoff, outcap;
} conn_t;

static int epfd;
static uint8_t rbuf[1 << 18];

static void out_reserve(conn_t *c, size_t n) {
    if (c->outlen + n <= c->outcap) return;
    size_t cap = c->outcap ? c->outcap : 4096;
    while (cap < c->outlen + n) cap *= 2;
    c->out = realloc(c->out, cap);
    c->outcap = cap;
}

static void conn_free(conn_t *c) {
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

/* returns 0 when everything was sent, 1 when output remains, -1 on error */
static int flush_out(conn_t *c) {
    while (c->outoff < c->outlen) {
        ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
        if (w < 0) return errno == EAGAIN ? 1 : -1;
        c->outoff += w;
    }
    c->outoff = c->outlen = 0;
    return 0;
}

static int handshake(conn_t *c) {
    uint8_t *end = memmem(c->in, c->inlen, "\r\n\r\n", 4);
    if (!end) return c->inlen > 16384 ? -1 : 0;
    size_t hlen = end + 4 - c->in;
    const char *key = NULL;
    size_t keylen = 0;
    for (uint8_t *p = c->in; p < end; p++) {
        if ((p == c->in || p[-1] == '\n') && strncasecmp((char *)p, "Sec-WebSocket-Key:", 18) == 0) {
            const char *v = (char *)p + 18;
            while (*v == ' ') v++;
            const char *e = v;
            while (*e != '\r' && *e != ' ') e++;
            key = v;
            keylen = e - v;
            break;
        }
    }
    if (!key) {
        static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        out_reserve(c, sizeof bad);
        memcpy(c->out + c->outlen, bad, sizeof bad - 1);
        c->outlen += sizeof bad - 1;
        c->closing = 1;
        return 1;
    }
    char accept[32];
    ws_accept(key, keylen, accept);
    out_reserve(c, 256);
    c->outlen += sprintf((char *)c->out + c->outlen,
                         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
    memmove(c->in, c->in + hlen, c->inlen - hlen);
    c->inlen -= hlen;
    c->open = 1;
    return 1;
}

/* Echoes every complete frame in c->in. -1: protocol error. */
static int frames(conn_t *c) {
    size_t off = 0;
    while (!c->closing) {
        size_t avail = c->inlen - off;
        uint8_t *p = c->in + off;
        if (avail < 2) break;
        int l7 = p[1] & 127;
        size_t h = 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0);
        if (!(p[1] & 0x80)) return -1; /* client frames are masked */
        if (avail < h + 4) break;
        uint64_t len = l7;
        if (l7 == 126) len = (uint64_t)p[2] << 8 | p[3];
        else if (l7 == 127) { len = 0; for (int i = 2; i < 10; i++) len = len << 8 | p[i]; }
        if (len > (1u << 26)) return -1;
        if (avail < h + 4 + len) break;
        const uint8_t *mask = p + h;
        const uint8_t *payload = p + h + 4;
        int opcode = p[0] & 15;
        if (opcode == 10) { off += h + 4 + len; continue; } /* pong: ignore */
        out_reserve(c, len + 10);
        uint8_t *o = c->out + c->outlen;
        size_t oh = 0;
        o[oh++] = opcode == 9 ? (0x80 | 10) : p[0];
        if (len < 126) o[oh++] = len;
        else if (len < 65536) { o[oh++] = 126; o[oh++] = len >> 8; o[oh++] = len; }
        else { o[oh++] = 127; for (int i = 7; i >= 0; i--) o[oh++] = len >> (8 * i); }
        uint8_t *dst = o + oh;
        size_t i = 0;
        uint32_t m32;
        memcpy(&m32, mask, 4);
        uint64_t m64 = (uint64_t)m32 << 32 | m32;
        for (; i + 8 <= len; i += 8) {
            uint64_t x;
            memcpy(&x, payload + i, 8);
            x ^= m64;
            memcpy(dst + i, &x, 8);
        }
        for (; i < len; i++) dst[i] = payload[i] ^ mask[i & 3];
        c->outlen += oh + len;
        off += h + 4 + len;
        if (opcode == 8) c->closing = 1;
    }
    if (off) {
        memmove(c->in, c->in + off, c->inlen - off);
        c->inlen -= off;
    }
    return 0;
}

static void on_readable(conn_t *c) {
    for (;;) {
        ssize_t r = recv(c->fd, rbuf, sizeof rbuf, 0);
        if (r < 0) {
            if (errno == EAGAIN) break;
            conn_free(c);
            return;
        }
        if (r == 0) { conn_free(c); return; }
        if (c->inlen + r > c->incap) {
            size_t cap = c->incap ? c->incap : 4096;
            while (cap < c->inlen + r) cap *= 2;
            c->in = realloc(c->in, cap);
            c->incap = cap;
        }
        memcpy(c->in + c->inlen, rbuf, r);
        c->inlen += r;
        if (!c->open && handshake(c) < 0) { conn_free(c); return; }
        if (c->open && frames(c) < 0) { conn_free(c); return; }
        if ((size_t)r < sizeof rbuf) break;
    }
    int f = flush_out(c);
    if (f < 0 || (f == 0 && c->closing)) { conn_free(c); return; }
    struct epoll_event e = {.events = EPOLLIN | (f ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e);
    if (!c->inlen && c->incap > 65536) { free(c->in); c->in = NULL; c->incap = 0; }
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: refecho PORT [HOST]\n"); return 2; }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) { rl.rlim_cur = rl.rlim_max; setrlimit(RLIMIT_NOFILE, &rl); }
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    inet_pton(AF_INET, argc > 2 ? argv[2] : "127.0.0.1", &sa.sin_addr);
    if (bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 4096) < 0) { perror("refecho: bind/listen"); return 1; }
    printf("refecho listening on ws://%s:%s/\n", argc > 2 ? argv[2] : "127.0.0.1", argv[1]);
    fflush(stdout);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, ls, &e);
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(epfd, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            conn_t *c = evs[i].data.ptr;
            if (!c) {
                for (;;) {
                    int fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) break;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    conn_t *nc = calloc(1, sizeof *nc);
                    nc->fd = fd;
                    struct epoll_event ce = {.events = EPOLLIN, .data.ptr = nc};
                    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ce);
                }
                continue;
            }
            if (evs[i].events & EPOLLOUT) {
                int f = flush_out(c);
                if (f < 0 || (f == 0 && c->closing)) { conn_free(c); continue; }
                if (f == 0) {
                    struct epoll_event ce = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ce);
                }
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(c);
        }
    }
}
