/* Stand-alone test driver of the C core (no Python), built and run under
 * AddressSanitizer and UndefinedBehaviorSanitizer by .ci/run:
 *   make -C tests/c check
 * Every SIMD level the CPU has is checked against the scalar path and naive
 * references, on random and adversarial inputs in exact-size heap buffers,
 * so any read past the end is caught by ASan. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsframe_core.h"

static unsigned long long rng_state = 0x9E3779B97F4A7C15ull;
static unsigned rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state >> 11);
}

static int failures = 0;
#define CHECK(cond, ...)                                              \
    do {                                                              \
        if (!(cond)) {                                                \
            failures++;                                               \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);      \
            fprintf(stderr, __VA_ARGS__);                             \
            fprintf(stderr, "\n");                                    \
            if (failures > 20)                                        \
                exit(1);                                              \
        }                                                             \
    } while (0)

static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
    uint8_t *q = malloc(n ? n : 1);
    if (!q)
        abort();
    if (n)
        memcpy(q, p, n);
    return q;
}

/* Naive reference by decoding: returns the length of the longest prefix of
 * p that is a prefix of some valid UTF-8 string (n when all of p is), and
 * sets *complete when p ends on a code-point boundary. After every byte of
 * a sequence it asks whether any completion can still give a valid code
 * point (not overlong, not a surrogate, at most U+10FFFF). */
static int range_ok(uint32_t lo, uint32_t hi, uint32_t min)
{
    if (lo < min)
        lo = min;
    if (hi > 0x10FFFF)
        hi = 0x10FFFF;
    if (lo > hi)
        return 0;
    return !(lo >= 0xD800 && hi <= 0xDFFF);
}

static size_t ref_utf8(const uint8_t *p, size_t n, int *complete)
{
    size_t i = 0;
    *complete = 0;
    while (i < n) {
        uint8_t b = p[i];
        size_t len;
        uint32_t cp, min;
        if (b < 0x80) {
            i++;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            len = 2; cp = b & 0x1Fu; min = 0x80;
        } else if ((b & 0xF0) == 0xE0) {
            len = 3; cp = b & 0x0Fu; min = 0x800;
        } else if ((b & 0xF8) == 0xF0) {
            len = 4; cp = b & 0x07u; min = 0x10000;
        } else {
            return i;
        }
        for (size_t j = 0; j < len; j++) {
            if (i + j >= n)
                return n;  /* cut off, but still a valid prefix */
            if (j > 0) {
                uint8_t c = p[i + j];
                if ((c & 0xC0) != 0x80)
                    return i + j;
                cp = (cp << 6) | (c & 0x3Fu);
            }
            unsigned rem = (unsigned)(len - 1 - j);
            uint32_t lo = cp << (6 * rem);
            uint32_t hi = lo | ((1u << (6 * rem)) - 1u);
            if (!range_ok(lo, hi, min))
                return i + j;
        }
        i += len;
    }
    *complete = 1;
    return n;
}

static const uint8_t interesting[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1,
                                      0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3,
                                      0xF4, 0xF5, 0xF7, 0xF8, 0xFF};

static void fill_random_utf8ish(uint8_t *p, size_t n)
{
    /* Mostly valid text with sparse corruption: long valid runs exercise the
     * SIMD blocks, corruption exercises the error paths. */
    static const char *pieces[] = {"a", "hello ", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xed\x9f\xbf",
                                   "\xee\x80\x80", "\xf4\x8f\xbf\xbf", "\xdf\xbf", "\xe0\xa0\x80"};
    size_t i = 0;
    while (i < n) {
        if (rnd() % 64 == 0) {
            p[i++] = interesting[rnd() % sizeof interesting];
            continue;
        }
        if (i > 0 && rnd() % 64 == 0) {
            /* Corrupt a byte already written, inside a sequence. */
            p[rnd() % i] = interesting[rnd() % sizeof interesting];
        }
        const char *s = pieces[rnd() % (sizeof pieces / sizeof pieces[0])];
        size_t l = strlen(s);
        for (size_t k = 0; k < l && i < n; k++)
            p[i++] = (uint8_t)s[k];
    }
}

static void test_utf8_one(const uint8_t *src, size_t n)
{
    int complete;
    size_t expect = ref_utf8(src, n, &complete);
    uint8_t *p = dup_exact(src, n);
    for (int level = 0; level <= 4; level++) {
        if (wsf_set_simd_level(level) != level)
            continue;
        wsf_utf8_state st;
        wsf_utf8_reset(&st);
        size_t r = wsf_utf8_feed(&st, p, n);
        size_t got = r == WSF_UTF8_OK ? n : r;
        CHECK(got == expect, "utf8 level %d n %zu: got %zu want %zu", level, n, got, expect);
        if (r == WSF_UTF8_OK)
            CHECK((st.need == 0) == (complete != 0), "utf8 boundary level %d n %zu", level, n);
        CHECK(wsf_utf8_valid(p, n) == (expect == n && complete), "utf8_valid level %d n %zu", level, n);
        /* The same input in random chunks, each in an exact-size buffer. */
        wsf_utf8_reset(&st);
        size_t pos = 0, bad = WSF_UTF8_OK;
        while (pos < n && bad == WSF_UTF8_OK) {
            size_t k = 1 + rnd() % (n - pos < 100 ? n - pos : 100);
            uint8_t *chunk = dup_exact(p + pos, k);
            size_t rr = wsf_utf8_feed(&st, chunk, k);
            free(chunk);
            if (rr != WSF_UTF8_OK)
                bad = pos + rr;
            pos += k;
        }
        CHECK((bad == WSF_UTF8_OK ? n : bad) == expect, "utf8 chunked level %d n %zu: got %zu want %zu", level,
              n, bad == WSF_UTF8_OK ? n : bad, expect);
    }
    wsf_set_simd_level(-1);
    free(p);
}

static void test_utf8(void)
{
    uint8_t buf[600];
    /* All 1-, 2- and 3-byte strings over the interesting bytes. */
    size_t m = sizeof interesting;
    for (size_t a = 0; a < m; a++) {
        buf[0] = interesting[a];
        test_utf8_one(buf, 1);
        for (size_t b = 0; b < m; b++) {
            buf[1] = interesting[b];
            test_utf8_one(buf, 2);
            for (size_t c = 0; c < m; c++) {
                buf[2] = interesting[c];
                test_utf8_one(buf, 3);
                /* The same 3 bytes inside longer text, across the SIMD block
                 * boundaries (16 and 32 bytes), so the vector paths see them. */
                static const size_t at[] = {0, 14, 15, 16, 30, 31, 32, 61, 62, 63, 97};
                uint8_t big[128];
                for (size_t t = 0; t < sizeof at / sizeof at[0]; t++) {
                    memset(big, 'a', sizeof big);
                    memcpy(big + 40 + 0 * t, "\xc3\xa9", 2);  /* some non-ASCII so blocks aren't skipped */
                    memcpy(big + at[t], buf, 3);
                    test_utf8_one(big, sizeof big);
                    test_utf8_one(big, at[t] + 3);
                }
            }
        }
    }
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = rnd() % sizeof buf;
        fill_random_utf8ish(buf, n);
        test_utf8_one(buf, n);
    }
}

static void test_mask(void)
{
    uint8_t src[300], want[300], key[4];
    for (int iter = 0; iter < 3000; iter++) {
        size_t n = rnd() % sizeof src, off = rnd() % 7;
        for (size_t i = 0; i < n; i++)
            src[i] = (uint8_t)rnd();
        for (int j = 0; j < 4; j++)
            key[j] = (uint8_t)rnd();
        for (size_t i = 0; i < n; i++)
            want[i] = src[i] ^ key[(i + off) % 4];
        for (int level = 0; level <= 4; level++) {
            if (wsf_set_simd_level(level) != level)
                continue;
            uint8_t *in = dup_exact(src, n), *out = malloc(n ? n : 1);
            wsf_mask(out, in, n, key, off);
            CHECK(n == 0 || memcmp(out, want, n) == 0, "mask copy level %d n %zu off %zu", level, n, off);
            wsf_mask(in, in, n, key, off);
            CHECK(n == 0 || memcmp(in, want, n) == 0, "mask inplace level %d n %zu", level, n);
            free(in);
            free(out);
        }
    }
    wsf_set_simd_level(-1);
}

static void test_frames(void)
{
    /* Written headers, every length class, masked and not: byte layout of
     * RFC 6455 section 5.2 (the parser is wsframe/_parser.py, tested from
     * Python). The output buffer is exact-size, so ASan catches overruns. */
    static const uint64_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 70000, (1ull << 63) - 1};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        for (int masked = 0; masked < 2; masked++) {
            uint64_t len = lens[li];
            size_t h = wsf_header_len(len, masked);
            size_t want = (len < 126 ? 2 : len < 65536 ? 4 : 10) + (masked ? 4 : 0);
            CHECK(h == want, "header_len(%llu, %d) = %zu", (unsigned long long)len, masked, h);
            uint8_t *f = malloc(h);
            uint8_t key[4] = {1, 2, 3, 4};
            CHECK(wsf_write_header(f, 0x82, len, masked ? key : NULL) == h, "header len");
            CHECK(f[0] == 0x82, "b0 %02x", f[0]);
            CHECK(((f[1] & 0x80) != 0) == masked, "mask bit");
            uint64_t got = f[1] & 0x7Fu;
            size_t off = 2;
            if (got == 126) {
                got = ((uint64_t)f[2] << 8) | f[3];
                off = 4;
                CHECK(got >= 126, "126 form for %llu", (unsigned long long)got);
            } else if (got == 127) {
                got = 0;
                for (int j = 2; j < 10; j++)
                    got = (got << 8) | f[j];
                off = 10;
                CHECK(got >= 65536, "127 form for %llu", (unsigned long long)got);
            }
            CHECK(got == len, "length %llu written as %llu", (unsigned long long)len, (unsigned long long)got);
            if (masked)
                CHECK(memcmp(f + off, key, 4) == 0, "key");
            free(f);
        }
    }
}

int main(void)
{
    printf("wsframe C core: CPU level %s\n", wsf_simd_name());
    test_mask();
    test_utf8();
    test_frames();
    if (failures) {
        printf("0 passed, %d failed\n", failures);
        return 1;
    }
    printf("3 passed, 0 failed\n");
    return 0;
}
