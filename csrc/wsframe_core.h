/* wsframe C core: masking, UTF-8 validation and frame header parsing.
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

/* Errors, mirrored in wsframe/_framing_rules.py. */
enum wsf_frame_error {
    WSF_OK = 0,
    WSF_E_RSV = 1,
    WSF_E_OPCODE = 2,
    WSF_E_CONTROL_FRAGMENTED = 3,
    WSF_E_CONTROL_TOO_LONG = 4,
    WSF_E_MASK_REQUIRED = 5,
    WSF_E_MASK_FORBIDDEN = 6,
    WSF_E_LENGTH_MSB = 7,
    WSF_E_TOO_BIG = 8
};

typedef struct {
    int server;             /* 1: frames come from a client and must be masked */
    uint8_t allowed_rsv;    /* RSV bits allowed by extensions (0x40, 0x20, 0x10) */
    int has_limit;
    uint64_t max_frame_size;
} wsf_parser_cfg;

typedef struct {
    uint8_t b0;             /* FIN, RSV1-3 and opcode */
    uint8_t masked;
    uint8_t key[4];
    size_t payload_off;     /* offset of the payload in the parsed buffer */
    size_t len;             /* payload length (saturated at SIZE_MAX) */
    uint64_t full_len;      /* payload length as declared */
} wsf_frame_info;

typedef struct {
    int code;               /* enum wsf_frame_error */
    uint8_t b0;
    uint64_t length;        /* declared payload length, when known */
    size_t offset;          /* offset of the bad frame's header in the buffer */
} wsf_frame_err;

/* Parse complete frames from buf[0..n), at most max_out of them, into out.
 * Returns the number of frames parsed; *consumed is the number of bytes they
 * take. Stops at the first incomplete frame (then *need is the total number
 * of bytes from buf + *consumed that the next step needs: at least one more
 * than is there), or at an error (err->code != WSF_OK). Never reads past n.
 * The payload of frame i is buf[out[i].payload_off .. + out[i].len). */
size_t wsf_parse_frames(const uint8_t *buf, size_t n, const wsf_parser_cfg *cfg,
                        wsf_frame_info *out, size_t max_out, size_t *consumed,
                        size_t *need, wsf_frame_err *err);

/* Parse the header at h[0..avail): returns 1 when the header is complete
 * (info filled; payload_off is the header length; *need = header + payload
 * length, which may exceed avail), 0 when more bytes are needed for the
 * header (*need = bytes needed so far), -1 on an error (err filled). */
int wsf_parse_header(const uint8_t *h, size_t avail, const wsf_parser_cfg *cfg, wsf_frame_info *info,
                     size_t *need, wsf_frame_err *err);

/* Write a frame header into out (at least 14 bytes). b0 holds FIN, RSV and
 * opcode; key is NULL for an unmasked frame. Returns the header length. */
size_t wsf_write_header(uint8_t *out, uint8_t b0, uint64_t len, const uint8_t *key);

/* Header length for a payload of len bytes. */
size_t wsf_header_len(uint64_t len, int masked);

#ifdef __cplusplus
}
#endif
#endif
