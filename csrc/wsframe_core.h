/* wsframe C core: masking, UTF-8 validation and frame header writing.
 *
 * Plain C over pointers and lengths, no Python API, so it can be tested and
 * fuzzed on its own (see tests/c/). SIMD paths are chosen at run time by CPU
 * detection; wsf_init() must be called once before use (it is idempotent).
 */
#ifndef WSFRAME_CORE_H
#define WSFRAME_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- CPU dispatch ------------------------------------------------------ */

enum wsf_simd_level { WSF_SCALAR = 0, WSF_SSE2 = 1, WSF_AVX2 = 2, WSF_AVX512 = 3, WSF_NEON = 4 };

/* Detects the CPU once and picks implementations. Returns the level chosen.
 * The environment variable WSFRAME_SIMD (scalar, sse2, avx2, avx512) caps the
 * level, so every path can be tested on one machine. */
int wsf_init(void);
/* Name of the active level ("scalar", "sse2", "avx2", "avx512", "neon"). */
const char *wsf_simd_name(void);
/* Force a level (capped at what the CPU supports); returns the level set. */
int wsf_set_simd_level(int level);

/* ---- Masking ----------------------------------------------------------- */

/* dst[i] = src[i] ^ key[(i + offset) % 4] for i < n. dst may equal src
 * (in place); otherwise the ranges must not overlap. */
void wsf_mask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4], size_t offset);

/* ---- UTF-8 ------------------------------------------------------------- */

/* State of the incremental validator: the code point left open by the
 * previous chunk. need == 0 means "at a code-point boundary". */
typedef struct {
    uint8_t need;  /* continuation bytes still expected (0..3) */
    uint8_t lo;    /* allowed range of the next continuation byte */
    uint8_t hi;
} wsf_utf8_state;

void wsf_utf8_reset(wsf_utf8_state *st);

/* Validate the next chunk. Returns (size_t)-1 when the text is still a valid
 * prefix of UTF-8 (st is updated), or the index in data of the first byte
 * that cannot belong to valid UTF-8 (st is then unspecified). */
size_t wsf_utf8_feed(wsf_utf8_state *st, const uint8_t *data, size_t n);

/* 1 when every byte of data is ASCII. */
int wsf_ascii(const uint8_t *data, size_t n);

/* 1 when data is complete, valid UTF-8. */
int wsf_utf8_valid(const uint8_t *data, size_t n);

#define WSF_UTF8_OK ((size_t)-1)

/* ---- Frames ------------------------------------------------------------ */

/* Write a frame header into out (at least 14 bytes). b0 holds FIN, RSV and
 * opcode; key is NULL for an unmasked frame. Returns the header length. */
size_t wsf_write_header(uint8_t *out, uint8_t b0, uint64_t len, const uint8_t *key);

/* Header length for a payload of len bytes. */
size_t wsf_header_len(uint64_t len, int masked);

#ifdef __cplusplus
}
#endif
#endif
