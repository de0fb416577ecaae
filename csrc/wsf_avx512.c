/* The AVX-512 (F + BW) UTF-8 filter (a file of its own: MSVC compiles it
 * with /arch:AVX512, GCC and Clang use target attributes). */
#include <string.h>

#include "wsf_internal.h"

#if defined(WSF_HAVE_AVX2_TARGET)
#include <immintrin.h>
#endif

#if defined(WSF_HAVE_AVX2_TARGET)
/* The same algorithm on 64-byte blocks. */
WSF_TARGET_AVX512 static inline __m512i kl_block_avx512(__m512i in, __m512i prev, __m512i t1h, __m512i t1l,
                                                         __m512i t2h)
{
    const __m512i nib = _mm512_set1_epi8(0x0F);
    /* [prev lane 3, in lanes 0-2]: the 16 bytes before each lane of in. */
    __m512i shifted = _mm512_alignr_epi64(in, prev, 6);
    __m512i prev1 = _mm512_alignr_epi8(in, shifted, 15);
    __m512i prev2 = _mm512_alignr_epi8(in, shifted, 14);
    __m512i prev3 = _mm512_alignr_epi8(in, shifted, 13);
    __m512i b1h = _mm512_shuffle_epi8(t1h, _mm512_and_si512(_mm512_srli_epi16(prev1, 4), nib));
    __m512i b1l = _mm512_shuffle_epi8(t1l, _mm512_and_si512(prev1, nib));
    __m512i b2h = _mm512_shuffle_epi8(t2h, _mm512_and_si512(_mm512_srli_epi16(in, 4), nib));
    __m512i sc = _mm512_and_si512(_mm512_and_si512(b1h, b1l), b2h);
    __m512i must23 = _mm512_or_si512(_mm512_subs_epu8(prev2, _mm512_set1_epi8((char)(0xE0 - 0x80))),
                                     _mm512_subs_epu8(prev3, _mm512_set1_epi8((char)(0xF0 - 0x80))));
    __m512i must23_80 = _mm512_and_si512(must23, _mm512_set1_epi8((char)0x80));
    return _mm512_xor_si512(must23_80, sc);
}

WSF_TARGET_AVX512 int wsf_utf8_check_avx512(const uint8_t *p, size_t n)
{
    const __m512i t1h = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)wsf_kl_byte_1_high));
    const __m512i t1l = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)wsf_kl_byte_1_low));
    const __m512i t2h = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(const void *)wsf_kl_byte_2_high));
    const __m512i maxv = _mm512_loadu_si512((const void *)wsf_kl_incomplete_max64);
    const __m512i hibit = _mm512_set1_epi8((char)0x80);
    __m512i prev = _mm512_setzero_si512();
    __m512i prev_incomplete = _mm512_setzero_si512();
    __m512i error = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512i in = _mm512_loadu_si512((const void *)(p + i));
        if (_mm512_test_epi8_mask(in, hibit) == 0) {
            error = _mm512_or_si512(error, prev_incomplete);
            prev_incomplete = _mm512_setzero_si512();
        } else {
            error = _mm512_or_si512(error, kl_block_avx512(in, prev, t1h, t1l, t2h));
            prev_incomplete = _mm512_subs_epu8(in, maxv);
        }
        prev = in;
        if ((i & 4095) == 0 && _mm512_test_epi8_mask(error, error) != 0)
            return 0;
    }
    if (i < n) {
        /* Zero padding is ASCII: it also flags a sequence cut off at n. */
        uint8_t tail[64];
        memset(tail, 0, sizeof tail);
        memcpy(tail, p + i, n - i);
        __m512i in = _mm512_loadu_si512((const void *)tail);
        error = _mm512_or_si512(error, kl_block_avx512(in, prev, t1h, t1l, t2h));
        prev_incomplete = _mm512_subs_epu8(in, maxv);
    }
    error = _mm512_or_si512(error, prev_incomplete);
    return _mm512_test_epi8_mask(error, error) == 0;
}
#endif
