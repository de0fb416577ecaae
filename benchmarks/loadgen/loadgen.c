/* wsframe load generator: a WebSocket (RFC 6455) client load generator on epoll.
 *
 * Modes
 *   echo       N connections; each keeps W messages outstanding (W=1: ping-pong,
 *              W>1: pipelined). Frames are precomputed and masked once; every echo
 *              is parsed and compared byte for byte with what was sent (opcode, FIN,
 *              length and payload). Reports messages/s and round-trip latency
 *              percentiles over the measured phase (after a warm-up).
 *   handshake  `--conns` slots, each repeatedly: TCP connect, HTTP upgrade (checks
 *              101 and Sec-WebSocket-Accept), closing handshake (sends close 1000,
 *              expects the close reply, then the server's EOF). Reports handshakes/s.
 *   idle       opens N connections, echoes one 16-byte message on each, prints a
 *              "ready" JSON line, then holds them until stdin reaches EOF (or
 *              --hold-seconds pass) and closes them cleanly. The runner measures the
 *              server's memory meanwhile.
 *
 * Bounds: every mode stops after --messages (handshakes) or --seconds of the
 * measured phase, whichever comes first; connect, handshake, drain and close
 * phases each have a --timeout.
 *
 * CPU: the generator's own CPU time over the measured phase (getrusage), and the
 * server's (all its threads: /proc/PID/task/TID/schedstat summed, else /proc/PID/stat, --server-pid) over the same window, so
 * the runner can report server CPU per message and flag a saturated generator.
 *
 * Output: one JSON object on stdout (idle mode: a "ready" line first). Exit 0 when
 * every echo was correct and every connection opened and closed cleanly, else 1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "wsutil.h"

enum { MODE_ECHO, MODE_HANDSHAKE, MODE_IDLE };
enum { ST_FREE, ST_CONNECTING, ST_HS_SENT, ST_OPEN, ST_CLOSE_SENT, ST_CLOSE_RCVD, ST_DONE };
enum { PH_SETUP, PH_WARMUP, PH_MEASURE, PH_DRAIN, PH_HOLD, PH_CLOSE, PH_END };

#define MAX_PENDING_OPEN 128
#define HBUF 4096

typedef struct conn {
    int fd;
    int state;
    int idx;
    uint32_t events; /* currently registered epoll events */
    char key[32];
    char accept[32];
    char hbuf[HBUF];
    int hlen;
    uint64_t t_open; /* connect start, for handshake latency */
    /* sending */
    uint64_t sent, recvd, queued;
    const uint8_t *outp;
    size_t outleft;
    uint8_t ctl[16]; /* close frame */
    uint64_t *ts;    /* ring of W send timestamps */
    /* receiving: frame parser */
    uint8_t hdr[14];
    int hdrlen, hdrneed;
    int in_payload;
    int opcode, fin;
    uint64_t plen, poff;
    uint64_t msg_off; /* bytes of the current message in earlier fragments */
    uint8_t ctlbuf[128];
} conn_t;

/* options */
static const char *o_host = "127.0.0.1";
static int o_port = 0, o_mode = MODE_ECHO, o_conns = 1, o_window = 1, o_size = 16, o_text = 0;
static uint64_t o_messages = 100000;
static double o_seconds = 2.0, o_warm_s = 0.2, o_timeout = 5.0, o_hold = 30.0;
static uint64_t o_warm_msgs = 0;
static int o_server_pid = 0;
static const char *o_path = "/";

/* precomputed frames */
#define NVAR_MIN 16
static int nvar;
static size_t flen, hdr_len_srv;
static uint8_t *ring;      /* 2*nvar masked client frames, back to back */
static uint8_t **payloads; /* expected payload per variant */

/* global state */
static int epfd, phase = PH_SETUP;
static conn_t *conns;
static int nconns, next_open = 0, pending_open = 0, n_open = 0, n_done = 0;
static uint64_t completed = 0, completed0 = 0, completed1 = 0;
static uint64_t hs_started = 0, hs_done = 0, hs_done0 = 0, hs_done1 = 0;
static uint64_t errors = 0, clean_closes = 0, unclean = 0, pings_seen = 0;
static char first_error[256] = "";
static uint32_t *lat;
static uint64_t nlat = 0, lat_cap = 0;
static uint64_t t_start, t_phase, t0, t1;
static double cpu0, cpu1, scpu0 = -1, scpu1 = -1, mbusy0 = -1, mbusy1 = -1;
static int gen_cpu_ok = 1;
static char recvbuf[1 << 18];

static void fail(conn_t *c, const char *fmt, ...) {
    va_list ap;
    errors++;
    if (!first_error[0]) {
        char msg[200];
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(first_error, sizeof first_error, "conn %d: %s", c ? c->idx : -1, msg);
        for (char *p = first_error; *p; p++)
            if (*p == '"' || *p == '\\' || (unsigned char)*p < 32) *p = '\'';
    }
}

static double self_cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* CPU time of every thread of PID in seconds: the sum of /proc/PID/task/TID/schedstat
 * (nanoseconds on CPU), falling back to utime+stime of /proc/PID/stat (clock ticks). */
static double proc_cpu_ticks(int pid);
static double proc_cpu(int pid) {
    if (pid <= 0) return -1;
    char path[96];
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (d) {
        struct dirent *de;
        unsigned long long total = 0;
        int n = 0;
        while ((de = readdir(d))) {
            if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
            snprintf(path, sizeof path, "/proc/%d/task/%.20s/schedstat", pid, de->d_name);
            FILE *f = fopen(path, "r");
            if (!f) continue;
            unsigned long long ns;
            if (fscanf(f, "%llu", &ns) == 1) { total += ns; n++; }
            fclose(f);
        }
        closedir(d);
        if (n) return total / 1e9;
    }
    return proc_cpu_ticks(pid);
}

static double proc_cpu_ticks(int pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    p += 2; /* field 3 (state) */
    unsigned long long ut = 0, st = 0;
    for (int field = 3; field <= 15 && *p; field++) {
        if (field == 14) ut = strtoull(p, NULL, 10);
        if (field == 15) st = strtoull(p, NULL, 10);
        p = strchr(p, ' ');
        if (!p) break;
        p++;
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Busy CPU time of the whole machine (all cores, /proc/stat), in seconds: what else ran
 * besides the generator and the server shows up as the difference. */
static double machine_busy(void) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 7) return -1;
    /* user nice system [idle iowait] irq softirq steal */
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static size_t frame_header(uint8_t *out, int opcode, uint64_t len, int masked) {
    size_t h = 0;
    out[h++] = 0x80 | opcode;
    uint8_t m = masked ? 0x80 : 0;
    if (len < 126) out[h++] = m | (uint8_t)len;
    else if (len < 65536) { out[h++] = m | 126; out[h++] = len >> 8; out[h++] = len & 255; }
    else { out[h++] = m | 127; for (int i = 7; i >= 0; i--) out[h++] = (uint8_t)(len >> (8 * i)); }
    return h;
}

static size_t build_masked(uint8_t *out, int opcode, const uint8_t *payload, size_t len) {
    size_t h = frame_header(out, opcode, len, 1);
    uint8_t mask[4];
    uint64_t r = rng();
    memcpy(mask, &r, 4);
    memcpy(out + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < len; i++) out[h + i] = payload[i] ^ mask[i & 3];
    return h + len;
}

static void precompute(void) {
    nvar = o_window > NVAR_MIN ? o_window : NVAR_MIN;
    uint8_t tmp[16];
    hdr_len_srv = frame_header(tmp, 2, o_size, 0);
    flen = frame_header(tmp, 2, o_size, 1) + 4 + o_size;
    ring = malloc(flen * 2 * nvar);
    payloads = malloc(sizeof(uint8_t *) * nvar);
    for (int v = 0; v < nvar; v++) {
        uint8_t *p = malloc(o_size + 1);
        for (int j = 0; j < o_size; j++)
            p[j] = o_text ? (uint8_t)('a' + (v + j) % 26) : (uint8_t)(v * 31 + j * 7 + (j >> 8));
        payloads[v] = p;
        build_masked(ring + v * flen, o_text ? 1 : 2, p, o_size);
    }
    memcpy(ring + nvar * flen, ring, nvar * flen);
}

static void set_events(conn_t *c, uint32_t ev) {
    if (c->events == ev) return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e);
    c->events = ev;
}

static void conn_finish(conn_t *c, int clean) {
    if (c->state == ST_FREE || c->state == ST_DONE) return;
    if (c->state < ST_OPEN) pending_open--;
    else n_open--;
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->state = ST_DONE;
    n_done++;
    if (clean) clean_closes++;
    else unclean++;
}

static void conn_start(conn_t *c) {
    memset(c->hbuf, 0, 4);
    c->hlen = 0; c->sent = c->recvd = c->queued = 0; c->outp = NULL; c->outleft = 0;
    c->hdrlen = 0; c->hdrneed = 2; c->in_payload = 0; c->msg_off = 0;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) { fail(c, "socket: %s", strerror(errno)); c->state = ST_DONE; n_done++; return; }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(o_port)};
    inet_pton(AF_INET, o_host, &sa.sin_addr);
    c->t_open = now_ns();
    int r = connect(c->fd, (struct sockaddr *)&sa, sizeof sa);
    if (r < 0 && errno != EINPROGRESS) {
        fail(c, "connect: %s", strerror(errno));
        close(c->fd); c->fd = -1; c->state = ST_DONE; n_done++;
        return;
    }
    c->state = ST_CONNECTING;
    pending_open++;
    struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
    c->events = EPOLLOUT;
    epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &e);
    uint8_t raw[16];
    for (int i = 0; i < 16; i += 8) { uint64_t x = rng(); memcpy(raw + i, &x, 8); }
    base64_encode(raw, 16, c->key);
    ws_accept(c->key, strlen(c->key), c->accept);
}

static void open_more(void) {
    if (o_mode == MODE_HANDSHAKE) return;
    while (pending_open < MAX_PENDING_OPEN && next_open < nconns) conn_start(&conns[next_open++]);
}

static int flush_out(conn_t *c) {
    while (c->outleft) {
        ssize_t w = send(c->fd, c->outp, c->outleft, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN) { set_events(c, EPOLLIN | EPOLLOUT); return 0; }
            fail(c, "send: %s", strerror(errno));
            conn_finish(c, 0);
            return -1;
        }
        c->outp += w;
        c->outleft -= w;
    }
    return 0;
}

/* Sends what is queued: consecutive messages are one contiguous slice of the ring. */
static void try_send(conn_t *c, uint64_t now) {
    for (;;) {
        if (c->outleft) {
            if (flush_out(c) < 0 || c->outleft) return;
        }
        if (!c->queued || c->state != ST_OPEN) break;
        uint64_t k = c->queued < (uint64_t)nvar ? c->queued : (uint64_t)nvar;
        int v = c->sent % nvar;
        c->outp = ring + v * flen;
        c->outleft = k * flen;
        for (uint64_t i = 0; i < k; i++) c->ts[(c->sent + i) % o_window] = now;
        c->sent += k;
        c->queued -= k;
    }
    set_events(c, EPOLLIN);
}

static void send_close(conn_t *c) {
    uint8_t payload[2] = {0x03, 0xE8};
    size_t n = build_masked(c->ctl, 8, payload, 2);
    c->outp = c->ctl;
    c->outleft = n;
    c->state = ST_CLOSE_SENT;
    flush_out(c);
}

static void on_message_done(conn_t *c, uint64_t now) {
    uint64_t seq = c->recvd++;
    if (seq >= c->sent) { fail(c, "echo of a message never sent"); return; }
    completed++;
    if (phase == PH_MEASURE && nlat < lat_cap) {
        uint64_t d = now - c->ts[seq % o_window];
        lat[nlat++] = d > 0xFFFFFFFFull ? 0xFFFFFFFFu : (uint32_t)d;
    }
    if (o_mode == MODE_IDLE) return; /* one message per connection */
    if (phase == PH_WARMUP || phase == PH_MEASURE) c->queued++;
}

/* Parses the server's frames; returns -1 when the connection is gone. */
static int feed(conn_t *c, const uint8_t *p, size_t n, uint64_t now) {
    while (n) {
        if (!c->in_payload) {
            while (n && c->hdrlen < c->hdrneed) {
                c->hdr[c->hdrlen++] = *p++;
                n--;
                if (c->hdrlen == 2) {
                    int l7 = c->hdr[1] & 127;
                    c->hdrneed = 2 + (l7 == 126 ? 2 : l7 == 127 ? 8 : 0) + ((c->hdr[1] & 0x80) ? 4 : 0);
                }
            }
            if (c->hdrlen < c->hdrneed) return 0;
            c->fin = c->hdr[0] >> 7;
            c->opcode = c->hdr[0] & 15;
            if (c->hdr[0] & 0x70) { fail(c, "RSV bits set: 0x%02x", c->hdr[0]); conn_finish(c, 0); return -1; }
            if (c->hdr[1] & 0x80) { fail(c, "server frame is masked"); conn_finish(c, 0); return -1; }
            int l7 = c->hdr[1] & 127;
            uint64_t len = l7;
            if (l7 == 126) len = (uint64_t)c->hdr[2] << 8 | c->hdr[3];
            else if (l7 == 127) { len = 0; for (int i = 2; i < 10; i++) len = len << 8 | c->hdr[i]; }
            c->plen = len;
            c->poff = 0;
            c->in_payload = 1;
            if (c->opcode >= 8) {
                if (len > 125 || !c->fin) { fail(c, "bad control frame"); conn_finish(c, 0); return -1; }
            } else {
                /* a message may come back fragmented: opcode, then continuations */
                int want = c->msg_off ? 0 : (o_text ? 1 : 2);
                uint64_t total = c->msg_off + len;
                if (c->opcode != want || total > (uint64_t)o_size || (c->fin && total != (uint64_t)o_size)) {
                    fail(c, "unexpected frame: opcode %d fin %d length %llu after %llu (want opcode %d, %d bytes)",
                         c->opcode, c->fin, (unsigned long long)len, (unsigned long long)c->msg_off, want, o_size);
                    conn_finish(c, 0);
                    return -1;
                }
                if (c->state != ST_OPEN && c->state != ST_CLOSE_SENT) { fail(c, "data frame after close"); conn_finish(c, 0); return -1; }
                if (c->recvd >= c->sent) { fail(c, "echo of a message never sent"); conn_finish(c, 0); return -1; }
            }
        }
        uint64_t m = c->plen - c->poff;
        if (m > n) m = n;
        if (c->opcode >= 8) memcpy(c->ctlbuf + c->poff, p, m);
        else if (memcmp(p, payloads[c->recvd % nvar] + c->msg_off + c->poff, m) != 0) {
            fail(c, "echo payload differs from message %llu at offset %llu", (unsigned long long)c->recvd,
                 (unsigned long long)(c->msg_off + c->poff));
            conn_finish(c, 0);
            return -1;
        }
        c->poff += m;
        p += m;
        n -= m;
        if (c->poff < c->plen) return 0;
        /* frame complete */
        c->in_payload = 0;
        c->hdrlen = 0;
        c->hdrneed = 2;
        if (c->opcode == 8) {
            int code = c->plen >= 2 ? (c->ctlbuf[0] << 8 | c->ctlbuf[1]) : 1005;
            if (c->state != ST_CLOSE_SENT) { fail(c, "server closed first (code %d)", code); conn_finish(c, 0); return -1; }
            if (code != 1000) { fail(c, "close reply code %d, want 1000", code); }
            c->state = ST_CLOSE_RCVD; /* now wait for the server's EOF */
        } else if (c->opcode == 9) {
            pings_seen++;
        } else if (c->opcode < 8) {
            if (c->fin) {
                c->msg_off = 0;
                on_message_done(c, now);
            } else {
                c->msg_off += c->plen;
            }
        }
    }
    return 0;
}

static void on_handshake_done(conn_t *c, uint64_t now) {
    pending_open--;
    n_open++;
    c->state = ST_OPEN;
    set_events(c, EPOLLIN);
    if (o_mode == MODE_HANDSHAKE) {
        hs_done++;
        if (phase == PH_MEASURE && nlat < lat_cap) {
            uint64_t d = now - c->t_open;
            lat[nlat++] = d > 0xFFFFFFFFull ? 0xFFFFFFFFu : (uint32_t)d;
        }
        send_close(c);
    } else if (o_mode == MODE_IDLE) {
        c->queued = 1;
        try_send(c, now);
    } else if (phase == PH_WARMUP || phase == PH_MEASURE) {
        c->queued = o_window;
        try_send(c, now);
    }
}

static int parse_response(conn_t *c, uint64_t now) {
    char *end = memmem(c->hbuf, c->hlen, "\r\n\r\n", 4);
    if (!end) {
        if (c->hlen >= HBUF - 1) { fail(c, "response headers too long"); conn_finish(c, 0); return -1; }
        return 0;
    }
    size_t hdr_bytes = end + 4 - c->hbuf;
    *end = 0;
    if (strncmp(c->hbuf, "HTTP/1.1 101", 12) != 0) {
        char *nl = strchr(c->hbuf, '\r');
        if (nl) *nl = 0;
        fail(c, "handshake status: %.80s", c->hbuf);
        conn_finish(c, 0);
        return -1;
    }
    int ok = 0;
    for (char *line = strstr(c->hbuf, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, "Sec-WebSocket-Accept:", 21) == 0) {
            char *v = line + 21;
            while (*v == ' ' || *v == '\t') v++;
            ok = strncmp(v, c->accept, 28) == 0 && (v[28] == '\r' || v[28] == 0 || v[28] == ' ');
        }
        if (strncasecmp(line, "Sec-WebSocket-Extensions:", 25) == 0) {
            fail(c, "server negotiated an extension we did not offer");
        }
    }
    if (!ok) { fail(c, "missing or wrong Sec-WebSocket-Accept"); conn_finish(c, 0); return -1; }
    size_t extra = c->hlen - hdr_bytes;
    on_handshake_done(c, now);
    if (extra) {
        uint8_t tmp[HBUF];
        memcpy(tmp, c->hbuf + hdr_bytes, extra);
        if (feed(c, tmp, extra, now) < 0) return -1;
    }
    return 0;
}

static void on_event(conn_t *c, uint32_t ev, uint64_t now) {
    if (c->state == ST_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) { fail(c, "connect: %s", strerror(err)); conn_finish(c, 0); return; }
        char req[512];
        int n = snprintf(req, sizeof req,
                         "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                         o_path, o_host, o_port, c->key);
        if (send(c->fd, req, n, MSG_NOSIGNAL) != n) { fail(c, "sending the upgrade request failed"); conn_finish(c, 0); return; }
        c->state = ST_HS_SENT;
        set_events(c, EPOLLIN);
        return;
    }
    if (ev & EPOLLOUT) {
        if (c->state == ST_OPEN) try_send(c, now);
        else if (flush_out(c) == 0 && !c->outleft) set_events(c, EPOLLIN);
        if (c->state == ST_DONE) return;
    }
    if (!(ev & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
    for (int rounds = 0; rounds < 4; rounds++) {
        ssize_t r;
        if (c->state == ST_HS_SENT) {
            r = recv(c->fd, c->hbuf + c->hlen, HBUF - 1 - c->hlen, 0);
        } else {
            r = recv(c->fd, recvbuf, sizeof recvbuf, 0);
        }
        if (r < 0) {
            if (errno == EAGAIN) break;
            if (c->state == ST_CLOSE_RCVD) { conn_finish(c, 1); return; } /* RST after close: fine */
            fail(c, "recv: %s", strerror(errno));
            conn_finish(c, 0);
            return;
        }
        if (r == 0) {
            if (c->state == ST_CLOSE_RCVD) conn_finish(c, 1);
            else { fail(c, "unexpected EOF from server (state %d)", c->state); conn_finish(c, 0); }
            return;
        }
        if (c->state == ST_HS_SENT) {
            c->hlen += r;
            if (parse_response(c, now) < 0) return;
        } else if (feed(c, (uint8_t *)recvbuf, r, now) < 0) {
            return;
        }
        if ((size_t)r < sizeof recvbuf) break;
    }
    if (c->state == ST_OPEN && (c->queued || c->outleft)) try_send(c, now);
}

static void begin_measure(uint64_t now) {
    phase = PH_MEASURE;
    t0 = now;
    cpu0 = self_cpu();
    scpu0 = proc_cpu(o_server_pid);
    mbusy0 = machine_busy();
    completed0 = completed;
    hs_done0 = hs_done;
}

static void end_measure(uint64_t now) {
    t1 = now;
    cpu1 = self_cpu();
    scpu1 = proc_cpu(o_server_pid);
    mbusy1 = machine_busy();
    completed1 = completed;
    hs_done1 = hs_done;
}

static void start_close_all(void) {
    phase = PH_CLOSE;
    t_phase = now_ns();
    for (int i = 0; i < nconns; i++) {
        conn_t *c = &conns[i];
        if (c->state == ST_OPEN) send_close(c);
        else if (c->state == ST_CONNECTING || c->state == ST_HS_SENT) conn_finish(c, 0);
    }
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(double q) {
    if (!nlat) return -1;
    uint64_t i = (uint64_t)(q * (nlat - 1) + 0.5);
    return lat[i] / 1000.0;
}

static void usage(void) {
    fprintf(stderr,
            "usage: loadgen --port P [--host 127.0.0.1] [--mode echo|handshake|idle] [--conns N] [--window W]\n"
            "               [--size BYTES] [--text] [--messages M] [--seconds S] [--warmup-seconds S]\n"
            "               [--warmup-messages M] [--server-pid PID] [--timeout S] [--hold-seconds S] [--path /]\n");
    exit(2);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && ++i)
        if (ARG("--host")) o_host = v;
        else if (ARG("--port")) o_port = atoi(v);
        else if (ARG("--mode")) o_mode = !strcmp(v, "echo") ? MODE_ECHO : !strcmp(v, "handshake") ? MODE_HANDSHAKE : !strcmp(v, "idle") ? MODE_IDLE : -1;
        else if (ARG("--conns")) o_conns = atoi(v);
        else if (ARG("--window")) o_window = atoi(v);
        else if (ARG("--size")) o_size = atoi(v);
        else if (ARG("--messages")) o_messages = strtoull(v, NULL, 10);
        else if (ARG("--seconds")) o_seconds = atof(v);
        else if (ARG("--warmup-seconds")) o_warm_s = atof(v);
        else if (ARG("--warmup-messages")) o_warm_msgs = strtoull(v, NULL, 10);
        else if (ARG("--server-pid")) o_server_pid = atoi(v);
        else if (ARG("--timeout")) o_timeout = atof(v);
        else if (ARG("--hold-seconds")) o_hold = atof(v);
        else if (ARG("--path")) o_path = v;
        else if (!strcmp(a, "--text")) o_text = 1;
        else usage();
#undef ARG
    }
    if (o_port <= 0 || o_mode < 0 || o_conns < 1 || o_window < 1 || o_size < 0 || o_messages < 1) usage();
    if (o_mode == MODE_IDLE) { o_window = 1; o_size = 16; }

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)o_conns + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < (rlim_t)o_conns + 16) {
            fprintf(stderr, "loadgen: RLIMIT_NOFILE %llu is too low for %d connections\n",
                    (unsigned long long)rl.rlim_cur, o_conns);
            return 2;
        }
    }
    rng_state ^= (uint64_t)getpid() << 20 ^ now_ns();
    precompute();
    nconns = o_conns;
    conns = calloc(nconns, sizeof(conn_t));
    for (int i = 0; i < nconns; i++) {
        conns[i].idx = i;
        conns[i].fd = -1;
        conns[i].ts = calloc(o_window, sizeof(uint64_t));
    }
    lat_cap = o_mode == MODE_IDLE ? 0 : o_messages;
    lat = malloc(sizeof(uint32_t) * (lat_cap + 1));
    epfd = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event evs[256];
    uint64_t timeout_ns = (uint64_t)(o_timeout * 1e9);
    uint64_t warm_ns = (uint64_t)(o_warm_s * 1e9), meas_ns = (uint64_t)(o_seconds * 1e9);
    uint64_t t_hold_end = 0;
    int stdin_added = 0, ready_printed = 0;
    if (o_warm_msgs == 0) o_warm_msgs = o_messages / 10 + 1;

    t_start = t_phase = now_ns();
    if (o_mode == MODE_HANDSHAKE) {
        /* warm-up then measure, each slot cycling connections */
        phase = PH_WARMUP;
        for (int i = 0; i < nconns; i++) { conn_start(&conns[i]); hs_started++; }
    } else {
        open_more();
    }

    while (phase != PH_END) {
        int n = epoll_wait(epfd, evs, 256, 20);
        uint64_t now = now_ns();
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL) { /* stdin: hold ends */
                char b[64];
                ssize_t r = read(0, b, sizeof b);
                if (r <= 0 || phase == PH_HOLD) {
                    epoll_ctl(epfd, EPOLL_CTL_DEL, 0, NULL);
                    stdin_added = 0;
                    if (phase == PH_HOLD) start_close_all();
                }
                continue;
            }
            on_event((conn_t *)evs[i].data.ptr, evs[i].events, now);
        }
        now = now_ns();
        if (o_mode == MODE_HANDSHAKE) {
            /* restart finished slots */
            for (int i = 0; i < nconns; i++) {
                conn_t *c = &conns[i];
                if (c->state == ST_DONE) {
                    n_done--;
                    c->state = ST_FREE;
                    if ((phase == PH_WARMUP || phase == PH_MEASURE) && !errors) { conn_start(c); hs_started++; }
                }
            }
            if (phase == PH_WARMUP && (hs_done >= o_warm_msgs / 4 + 1 || now - t_phase >= warm_ns)) begin_measure(now);
            else if (phase == PH_MEASURE && (hs_done - hs_done0 >= o_messages || now - t0 >= meas_ns || errors)) {
                end_measure(now);
                phase = PH_DRAIN; /* wait for the slots in flight */
                t_phase = now;
            }
            if (phase == PH_DRAIN) {
                int busy = 0;
                for (int i = 0; i < nconns; i++) busy += conns[i].state != ST_FREE;
                if (!busy) phase = PH_END;
                else if (now - t_phase > timeout_ns) {
                    for (int i = 0; i < nconns; i++)
                        if (conns[i].state != ST_FREE && conns[i].state != ST_DONE) {
                            fail(&conns[i], "handshake or close timed out (state %d)", conns[i].state);
                            conn_finish(&conns[i], 0);
                        }
                    phase = PH_END;
                }
            }
            continue;
        }
        open_more();
        switch (phase) {
        case PH_SETUP:
            if (next_open == nconns && pending_open == 0) {
                if (n_open < nconns) { phase = PH_END; break; } /* some failed: errors recorded */
                if (o_mode == MODE_IDLE) {
                    uint64_t got = 0;
                    for (int i = 0; i < nconns; i++) got += conns[i].recvd;
                    if (got < (uint64_t)nconns) {
                        if (now - t_phase > timeout_ns) { fail(NULL, "idle: first echo timed out"); start_close_all(); }
                        break;
                    }
                    printf("{\"ready\": true, \"conns\": %d, \"setup_s\": %.3f}\n", nconns, (now - t_start) / 1e9);
                    fflush(stdout);
                    ready_printed = 1;
                    phase = PH_HOLD;
                    t_hold_end = now + (uint64_t)(o_hold * 1e9);
                    struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
                    if (epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &e) == 0) stdin_added = 1;
                    break;
                }
                phase = PH_WARMUP;
                t_phase = now;
                for (int i = 0; i < nconns; i++) { conns[i].queued = o_window; try_send(&conns[i], now); }
            } else if (now - t_start > timeout_ns) {
                fail(NULL, "connect/handshake timed out (%d of %d open)", n_open, nconns);
                start_close_all();
            }
            break;
        case PH_WARMUP:
            if (completed >= o_warm_msgs || now - t_phase >= warm_ns) begin_measure(now);
            if (errors) { end_measure(now); start_close_all(); }
            break;
        case PH_MEASURE:
            if (completed - completed0 >= o_messages || now - t0 >= meas_ns || errors || n_open < nconns) {
                end_measure(now);
                phase = PH_DRAIN;
                t_phase = now;
            }
            break;
        case PH_DRAIN: {
            int inflight = 0;
            for (int i = 0; i < nconns; i++)
                if (conns[i].state == ST_OPEN && (conns[i].recvd < conns[i].sent || conns[i].outleft)) inflight++;
            if (!inflight) start_close_all();
            else if (now - t_phase > timeout_ns) { fail(NULL, "%d connections did not echo everything", inflight); start_close_all(); }
            break;
        }
        case PH_HOLD:
            if (now >= t_hold_end) start_close_all();
            break;
        case PH_CLOSE:
            if (n_open == 0 && pending_open == 0) phase = PH_END;
            else if (now - t_phase > timeout_ns) {
                int left = 0;
                for (int i = 0; i < nconns; i++)
                    if (conns[i].state != ST_DONE && conns[i].state != ST_FREE) { left++; conn_finish(&conns[i], 0); }
                fail(NULL, "%d connections did not finish the closing handshake", left);
                phase = PH_END;
            }
            break;
        }
    }
    (void)stdin_added;
    (void)ready_printed;
    if (!t1) end_measure(now_ns());
    if (!t0) t0 = t1;

    qsort(lat, nlat, sizeof(uint32_t), cmp_u32);
    double wall = (t1 - t0) / 1e9;
    uint64_t count = o_mode == MODE_HANDSHAKE ? hs_done1 - hs_done0 : completed1 - completed0;
    double gen_cpu = cpu1 - cpu0;
    double scpu = (scpu0 >= 0 && scpu1 >= 0) ? scpu1 - scpu0 : -1;
    (void)gen_cpu_ok;
    const char *mname = o_mode == MODE_ECHO ? "echo" : o_mode == MODE_HANDSHAKE ? "handshake" : "idle";
    int ok = errors == 0 && (o_mode == MODE_HANDSHAKE || (int)clean_closes == nconns);
    printf("{\"mode\": \"%s\", \"conns\": %d, \"window\": %d, \"size\": %d, \"text\": %s, "
           "\"count\": %llu, \"wall_s\": %.6f, \"rate\": %.1f, "
           "\"p50_us\": %.2f, \"p99_us\": %.2f, \"p999_us\": %.2f, \"max_us\": %.2f, \"samples\": %llu, "
           "\"gen_cpu_s\": %.4f, \"gen_cpu_pct\": %.1f, \"server_cpu_s\": %.4f, \"server_us_per_op\": %.3f, "
           "\"server_cpu_pct\": %.1f, \"machine_busy_s\": %.3f, "
           "\"clean_closes\": %llu, \"unclean_closes\": %llu, \"pings_seen\": %llu, "
           "\"errors\": %llu, \"first_error\": \"%s\", \"ok\": %s}\n",
           mname, nconns, o_window, o_size, o_text ? "true" : "false",
           (unsigned long long)count, wall, wall > 0 ? count / wall : 0.0,
           pct(0.5), pct(0.99), pct(0.999), nlat ? lat[nlat - 1] / 1000.0 : -1.0, (unsigned long long)nlat,
           gen_cpu, wall > 0 ? 100.0 * gen_cpu / wall : 0.0, scpu, (scpu >= 0 && count) ? scpu * 1e6 / count : -1.0,
           (scpu >= 0 && wall > 0) ? 100.0 * scpu / wall : -1.0, (mbusy0 >= 0 && mbusy1 >= 0) ? mbusy1 - mbusy0 : -1.0,
           (unsigned long long)clean_closes, (unsigned long long)unclean, (unsigned long long)pings_seen,
           (unsigned long long)errors, first_error, ok ? "true" : "false");
    return ok ? 0 : 1;
}
