/* Pub/sub benchmark sink: N idle WebSocket subscribers that read and count every frame.
 *
 * usage: pubsink PORT N [plain|nct|ct]
 * Opens N connections to 127.0.0.1 (HTTP upgrade, checks the 101; nct/ct offer
 * permessage-deflate without/with server context takeover: frames are counted, not
 * inflated), prints {"ready": N}, then reads
 * commands on stdin, one per line:
 *   go K   every connection must receive K more data frames; when all have, prints
 *          {"done": K, "last_ms": T} where T is the time from reading the command to
 *          the last connection's K-th frame. Fails (exit 1) after 60 s.
 * Frames are parsed (header and length), not copied; unmasked server frames only.
 * EOF on stdin: close everything and exit 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    int fd;
    uint64_t got;       /* data frames received */
    uint64_t need;      /* frames to reach for the current command */
    uint64_t left;      /* payload bytes of the current frame still to skip */
    unsigned char hdr[14];
    int hlen;
} sub_t;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int frame_header_len(const unsigned char *h, int have) {
    if (have < 2) return 2;
    int n = h[1] & 0x7f;
    return n == 126 ? 4 : n == 127 ? 10 : 2;
}

/* Consume bytes: count data frames (FIN set, opcode 1/2/0). */
static void feed(sub_t *s, const unsigned char *p, size_t n) {
    while (n) {
        if (s->left) {
            size_t k = n < s->left ? n : (size_t)s->left;
            s->left -= k;
            p += k;
            n -= k;
            continue;
        }
        s->hdr[s->hlen++] = *p++;
        n--;
        int want = frame_header_len(s->hdr, s->hlen);
        if (s->hlen < want) continue;
        uint64_t len = s->hdr[1] & 0x7f;
        if (len == 126) len = ((uint64_t)s->hdr[2] << 8) | s->hdr[3];
        else if (len == 127) {
            len = 0;
            for (int i = 2; i < 10; i++) len = (len << 8) | s->hdr[i];
        }
        int op = s->hdr[0] & 0x0f;
        if ((s->hdr[0] & 0x80) && op < 3) s->got++;
        s->left = len;
        s->hlen = 0;
    }
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: pubsink PORT N [plain|nct|ct]\n"); return 2; }
    int port = atoi(argv[1]), n = atoi(argv[2]);
    const char *mode = argc > 3 ? argv[3] : "plain";
    const char *host = "127.0.0.1";
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    sub_t *subs = calloc((size_t)n, sizeof *subs);
    if (!subs) return 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    char req[512];
    snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
             !strcmp(mode, "nct") ? "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                                    "client_no_context_takeover\r\n"
             : !strcmp(mode, "ct") ? "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n"
             : "");
    int epfd = epoll_create1(0);
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) { perror("connect"); return 1; }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (send(fd, req, strlen(req), 0) != (ssize_t)strlen(req)) { perror("send"); return 1; }
        subs[i].fd = fd;
    }
    for (int i = 0; i < n; i++) { /* read each 101 (the headers end the response) */
        char buf[2048];
        size_t have = 0;
        while (have < 4 || memcmp(buf + have - 4, "\r\n\r\n", 4)) {
            ssize_t r = recv(subs[i].fd, buf + have, 1, 0);
            if (r <= 0 || ++have >= sizeof buf) { fprintf(stderr, "handshake failed on %d\n", i); return 1; }
        }
        if (memcmp(buf, "HTTP/1.1 101", 12)) { fprintf(stderr, "no 101: %.40s\n", buf); return 1; }
        fcntl(subs[i].fd, F_SETFL, O_NONBLOCK);
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = &subs[i]};
        epoll_ctl(epfd, EPOLL_CTL_ADD, subs[i].fd, &e);
    }
    struct epoll_event e0 = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &e0);
    printf("{\"ready\": %d}\n", n);
    fflush(stdout);
    static unsigned char buf[1 << 18];
    struct epoll_event evs[512];
    int waiting = 0;
    uint64_t t_go = 0, k = 0;
    char line[128];
    size_t llen = 0;
    for (;;) {
        int m = epoll_wait(epfd, evs, 512, 100);
        for (int i = 0; i < m; i++) {
            sub_t *s = evs[i].data.ptr;
            if (!s) {
                ssize_t r = read(0, line + llen, sizeof line - 1 - llen);
                if (r <= 0) { for (int j = 0; j < n; j++) close(subs[j].fd); return 0; }
                llen += (size_t)r;
                line[llen] = 0;
                char *nl = strchr(line, '\n');
                if (nl && !strncmp(line, "go ", 3)) {
                    k = strtoull(line + 3, NULL, 10);
                    for (int j = 0; j < n; j++) subs[j].need = subs[j].got + k;
                    waiting = n;
                    for (int j = 0; j < n; j++) if (subs[j].got >= subs[j].need) waiting--;
                    t_go = now_ns();
                    llen = 0;
                }
                continue;
            }
            for (;;) {
                ssize_t r = recv(s->fd, buf, sizeof buf, 0);
                if (r < 0 && (errno == EAGAIN || errno == EINTR)) break;
                if (r <= 0) { fprintf(stderr, "a subscriber was closed\n"); return 1; }
                uint64_t before = s->got;
                feed(s, buf, (size_t)r);
                if (waiting && before < s->need && s->got >= s->need) waiting--;
                if ((size_t)r < sizeof buf) break;
            }
        }
        if (t_go && !waiting) {
            printf("{\"done\": %llu, \"last_ms\": %.3f}\n", (unsigned long long)k, (now_ns() - t_go) / 1e6);
            fflush(stdout);
            t_go = 0;
        } else if (t_go && now_ns() - t_go > 60000000000ull) {
            fprintf(stderr, "timed out: %d subscribers short\n", waiting);
            return 1;
        }
    }
}
