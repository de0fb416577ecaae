/* UTF-8 validation.
 *
 * Two layers:
 *  - a byte-exact automaton (the reference: it finds the offset of the first
 *    byte that cannot belong to valid UTF-8, and carries state across chunks);
 *  - a SIMD filter (Keiser and Lemire, "Validating UTF-8 In Less Than One
 *    Instruction Per Byte", with an ASCII fast path) that only says "valid"
 *    or "not valid" for a run of complete code points.
 * The filter runs on the bulk of each chunk; only when it reports an error
 * is the automaton run over the chunk to find the exact offset. The
 * automaton stays the source of truth.
 */
#include <string.h>

#include "wsf_internal.h"

#if defined(WSF_X86)
#include <emmintrin.h>
#endif
#if defined(WSF_HAVE_AVX2_TARGET)
#include <immintrin.h>
#endif
#if defined(WSF_ARM64)
#include <arm_neon.h>
#endif

void wsf_utf8_reset(wsf_utf8_state *st)
{
    st->need = 0;
    st->lo = 0x80;
    st->hi = 0xBF;
}

/* Lead byte -> continuation bytes needed and the allowed range of the first
 * continuation byte; the narrowed ranges reject overlong forms, surrogates
 * and code points above U+10FFFF at the first byte that shows them. */
static int lead_info(uint8_t b, uint8_t *need, uint8_t *lo, uint8_t *hi)
{
    if (b < 0xC2)
        return 0;
    if (b < 0xE0) {
        *need = 1; *lo = 0x80; *hi = 0xBF;
    } else if (b < 0xF0) {
        *need = 2;
        *lo = (b == 0xE0) ? 0xA0 : 0x80;
        *hi = (b == 0xED) ? 0x9F : 0xBF;
    } else if (b < 0xF5) {
        *need = 3;
        *lo = (b == 0xF0) ? 0x90 : 0x80;
        *hi = (b == 0xF4) ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    return 1;
}

/* Skip ASCII bytes from p[i]; returns the index of the first non-ASCII byte
 * or n. */
static size_t skip_ascii(const uint8_t *p, size_t i, size_t n)
{
#if defined(WSF_X86)
    const int sse2 = wsf_current_level() >= WSF_SSE2;
    for (; sse2 && i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        int m = _mm_movemask_epi8(v);
        if (m != 0)
            return i + (size_t)wsf_ctz((unsigned)m);
    }
#endif
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        if (v & 0x8080808080808080ull)
            break;
    }
    while (i < n && p[i] < 0x80)
        i++;
    return i;
}

int wsf_ascii(const uint8_t *p, size_t n)
{
    return skip_ascii(p, 0, n) == n;
}

/* The automaton. Returns WSF_UTF8_OK or the index of the bad byte. */
static size_t automaton(wsf_utf8_state *st, const uint8_t *p, size_t n)
{
    uint8_t need = st->need, lo = st->lo, hi = st->hi;
    size_t i = 0;
    while (i < n) {
        if (need == 0) {
            if (p[i] < 0x80) {
                i = skip_ascii(p, i, n);
                if (i >= n)
                    break;
            }
            if (!lead_info(p[i], &need, &lo, &hi))
                return i;
            i++;
        } else {
            uint8_t b = p[i];
            if (b < lo || b > hi)
                return i;
            need--;
            lo = 0x80;
            hi = 0xBF;
            i++;
        }
    }
    st->need = need;
    st->lo = lo;
    st->hi = hi;
    return WSF_UTF8_OK;
}

/* End of the run of complete code points in p[0..n): the start of a trailing
 * lead byte whose sequence is cut off, else n. */
static size_t complete_prefix(const uint8_t *p, size_t n)
{
    for (size_t k = 1; k <= 3 && k <= n; k++) {
        uint8_t b = p[n - k];
        if ((b & 0xC0) != 0x80) {
            if (b >= 0xC0) {
                size_t len = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : 2;
                if (len > k)
                    return n - k;
            }
            return n;
        }
    }
    return n;
}

/* ---- Keiser-Lemire lookup tables (shared by AVX2 and NEON) ------------- */

#define TOO_SHORT (1 << 0)
#define TOO_LONG (1 << 1)
#define OVERLONG_3 (1 << 2)
#define TOO_LARGE (1 << 3)
#define SURROGATE (1 << 4)
#define OVERLONG_2 (1 << 5)
#define TOO_LARGE_1000 (1 << 6)
#define OVERLONG_4 (1 << 6)
#define TWO_CONTS (1 << 7)
#define CARRY (TOO_SHORT | TOO_LONG | TWO_CONTS)

#if defined(WSF_X86) || defined(WSF_ARM64)
const uint8_t wsf_kl_byte_1_high[16] = {
    TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG,
    TWO_CONTS, TWO_CONTS, TWO_CONTS, TWO_CONTS,
    TOO_SHORT | OVERLONG_2,
    TOO_SHORT,
    TOO_SHORT | OVERLONG_3 | SURROGATE,
    TOO_SHORT | TOO_LARGE | TOO_LARGE_1000 | OVERLONG_4};
const uint8_t wsf_kl_byte_1_low[16] = {
    CARRY | OVERLONG_3 | OVERLONG_2 | OVERLONG_4,
    CARRY | OVERLONG_2,
    CARRY,
    CARRY,
    CARRY | TOO_LARGE,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000 | SURROGATE,
    CARRY | TOO_LARGE | TOO_LARGE_1000,
    CARRY | TOO_LARGE | TOO_LARGE_1000};
const uint8_t wsf_kl_byte_2_high[16] = {
    TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,
    TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE_1000 | OVERLONG_4,
    TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE,
    TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
    TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
    TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT};
/* Bytes that, in the last three positions of a block, start a sequence
 * that continues into the next block. */
const uint8_t wsf_kl_incomplete_max[32] = {
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    0xF0 - 1, 0xE0 - 1, 0xC0 - 1};
#endif
#if defined(WSF_HAVE_AVX2_TARGET)
/* The 128-bit version for the SSE level. pshufb and palignr are SSSE3, which
 * every x86-64 CPU since 2006 has; without it the automaton is used. */

WSF_TARGET_SSSE3 static inline __m128i kl_block_ssse3(__m128i in, __m128i prev, __m128i t1h, __m128i t1l,
                                                       __m128i t2h)
{
    const __m128i nib = _mm_set1_epi8(0x0F);
    __m128i prev1 = _mm_alignr_epi8(in, prev, 15);
    __m128i prev2 = _mm_alignr_epi8(in, prev, 14);
    __m128i prev3 = _mm_alignr_epi8(in, prev, 13);
    __m128i b1h = _mm_shuffle_epi8(t1h, _mm_and_si128(_mm_srli_epi16(prev1, 4), nib));
    __m128i b1l = _mm_shuffle_epi8(t1l, _mm_and_si128(prev1, nib));
    __m128i b2h = _mm_shuffle_epi8(t2h, _mm_and_si128(_mm_srli_epi16(in, 4), nib));
    __m128i sc = _mm_and_si128(_mm_and_si128(b1h, b1l), b2h);
    __m128i must23 = _mm_or_si128(_mm_subs_epu8(prev2, _mm_set1_epi8((char)(0xE0 - 0x80))),
                                  _mm_subs_epu8(prev3, _mm_set1_epi8((char)(0xF0 - 0x80))));
    __m128i must23_80 = _mm_and_si128(must23, _mm_set1_epi8((char)0x80));
    return _mm_xor_si128(must23_80, sc);
}

WSF_TARGET_SSSE3 int wsf_utf8_check_ssse3(const uint8_t *p, size_t n)
{
    const __m128i t1h = _mm_loadu_si128((const __m128i *)(const void *)wsf_kl_byte_1_high);
    const __m128i t1l = _mm_loadu_si128((const __m128i *)(const void *)wsf_kl_byte_1_low);
    const __m128i t2h = _mm_loadu_si128((const __m128i *)(const void *)wsf_kl_byte_2_high);
    const __m128i maxv = _mm_loadu_si128((const __m128i *)(const void *)(wsf_kl_incomplete_max + 16));
    const __m128i zero = _mm_setzero_si128();
    __m128i prev = zero, prev_incomplete = zero, error = zero;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 16));
        if (_mm_movemask_epi8(_mm_or_si128(a, b)) == 0) {
            error = _mm_or_si128(error, prev_incomplete);
            prev_incomplete = zero;
        } else {
            error = _mm_or_si128(error, kl_block_ssse3(a, prev, t1h, t1l, t2h));
            error = _mm_or_si128(error, kl_block_ssse3(b, a, t1h, t1l, t2h));
            prev_incomplete = _mm_subs_epu8(b, maxv);
        }
        prev = b;
        if ((i & 4095) == 0 && _mm_movemask_epi8(_mm_cmpeq_epi8(error, zero)) != 0xFFFF)
            return 0;
    }
    while (i < n) {
        uint8_t tail[16];
        memset(tail, 0, sizeof tail);
        memcpy(tail, p + i, n - i < 16 ? n - i : 16);
        __m128i in = _mm_loadu_si128((const __m128i *)(const void *)tail);
        error = _mm_or_si128(error, kl_block_ssse3(in, prev, t1h, t1l, t2h));
        prev_incomplete = _mm_subs_epu8(in, maxv);
        prev = in;
        i += 16;
    }
    error = _mm_or_si128(error, prev_incomplete);
    return _mm_movemask_epi8(_mm_cmpeq_epi8(error, zero)) == 0xFFFF;
}

const uint8_t wsf_kl_incomplete_max64[64] = {
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    0xF0 - 1, 0xE0 - 1, 0xC0 - 1};
#endif


#if defined(WSF_ARM64)
int wsf_utf8_check_neon(const uint8_t *p, size_t n)
{
    const uint8x16_t t1h = vld1q_u8(wsf_kl_byte_1_high);
    const uint8x16_t t1l = vld1q_u8(wsf_kl_byte_1_low);
    const uint8x16_t t2h = vld1q_u8(wsf_kl_byte_2_high);
    const uint8x16_t nib = vdupq_n_u8(0x0F);
    const uint8x16_t maxv = vld1q_u8(wsf_kl_incomplete_max + 16);
    const uint8x16_t third = vdupq_n_u8(0xE0 - 0x80);
    const uint8x16_t fourth = vdupq_n_u8(0xF0 - 0x80);
    const uint8x16_t hibit = vdupq_n_u8(0x80);
    uint8x16_t prev = vdupq_n_u8(0);
    uint8x16_t prev_incomplete = vdupq_n_u8(0);
    uint8x16_t error = vdupq_n_u8(0);
    uint8_t tail[16];
    size_t i = 0;
    while (i < n) {
        uint8x16_t in;
        if (i + 16 <= n) {
            in = vld1q_u8(p + i);
        } else {
            memset(tail, 0, sizeof tail);
            memcpy(tail, p + i, n - i);
            in = vld1q_u8(tail);
        }
        i += 16;
        if (vmaxvq_u8(in) < 0x80) {
            error = vorrq_u8(error, prev_incomplete);
            prev_incomplete = vdupq_n_u8(0);
        } else {
            uint8x16_t prev1 = vextq_u8(prev, in, 15);
            uint8x16_t prev2 = vextq_u8(prev, in, 14);
            uint8x16_t prev3 = vextq_u8(prev, in, 13);
            uint8x16_t b1h = vqtbl1q_u8(t1h, vshrq_n_u8(prev1, 4));
            uint8x16_t b1l = vqtbl1q_u8(t1l, vandq_u8(prev1, nib));
            uint8x16_t b2h = vqtbl1q_u8(t2h, vshrq_n_u8(in, 4));
            uint8x16_t sc = vandq_u8(vandq_u8(b1h, b1l), b2h);
            uint8x16_t must23 = vorrq_u8(vqsubq_u8(prev2, third), vqsubq_u8(prev3, fourth));
            error = vorrq_u8(error, veorq_u8(vandq_u8(must23, hibit), sc));
            prev_incomplete = vqsubq_u8(in, maxv);
        }
        prev = in;
    }
    error = vorrq_u8(error, prev_incomplete);
    return vmaxvq_u8(error) == 0;
}
#endif

/* SIMD filter over complete code points; 1 = valid. The scalar level, and
 * the SSE2 level on a CPU without SSSE3, use the automaton. */
static int simd_check(const uint8_t *p, size_t n, int level)
{
    switch (level) {
#if defined(WSF_HAVE_AVX2_TARGET)
    case WSF_SSE2:
        if (wsf_has_ssse3())
            return wsf_utf8_check_ssse3(p, n);
        break;
    case WSF_AVX2:
        return wsf_utf8_check_avx2(p, n);
    case WSF_AVX512:
        return wsf_utf8_check_avx512(p, n);
#endif
#if defined(WSF_ARM64)
    case WSF_NEON:
        return wsf_utf8_check_neon(p, n);
#endif
    default:
        break;
    }
    wsf_utf8_state st;
    wsf_utf8_reset(&st);
    return automaton(&st, p, n) == WSF_UTF8_OK && st.need == 0;
}

/* Below this size the automaton (with its ASCII skip) beats the filter's
 * set-up cost. */
#define SIMD_MIN 64

size_t wsf_utf8_feed(wsf_utf8_state *st, const uint8_t *data, size_t n)
{
    const int level = wsf_init();  /* read once: another thread may change it */
    size_t i = 0;
    if (st->need) {
        /* Finish the code point the previous chunk left open. */
        size_t k = st->need < n ? st->need : n;
        size_t r = automaton(st, data, k);
        if (r != WSF_UTF8_OK)
            return r;
        i = k;
    }
    if (n - i < SIMD_MIN || level == WSF_SCALAR || (level == WSF_SSE2 && !wsf_has_ssse3()))
        goto exact;
    {
        size_t bound = i + complete_prefix(data + i, n - i);
        if (!simd_check(data + i, bound - i, level))
            goto exact;
        size_t r = automaton(st, data + bound, n - bound);
        return r == WSF_UTF8_OK ? r : bound + r;
    }
exact: {
        size_t r = automaton(st, data + i, n - i);
        return r == WSF_UTF8_OK ? r : i + r;
    }
}

int wsf_utf8_valid(const uint8_t *data, size_t n)
{
    wsf_utf8_state st;
    wsf_utf8_reset(&st);
    return wsf_utf8_feed(&st, data, n) == WSF_UTF8_OK && st.need == 0;
}
