/* The AVX2 kernels: masking and the UTF-8 filter (a file of their own: MSVC
 * compiles it with /arch:AVX2, GCC and Clang use target attributes). */
#include <string.h>

#include "wsf_internal.h"

#if defined(WSF_HAVE_AVX2_TARGET)
#include <immintrin.h>
#endif

#if defined(WSF_HAVE_AVX2_TARGET)
WSF_TARGET_AVX2 void wsf_mask_avx2(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4])
{
    int32_t k32;
    memcpy(&k32, key, 4);
    const __m256i k = _mm256_set1_epi32(k32);
    size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(src + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(src + i + 32));
        __m256i c = _mm256_loadu_si256((const __m256i *)(const void *)(src + i + 64));
        __m256i d = _mm256_loadu_si256((const __m256i *)(const void *)(src + i + 96));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i), _mm256_xor_si256(a, k));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i + 32), _mm256_xor_si256(b, k));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i + 64), _mm256_xor_si256(c, k));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i + 96), _mm256_xor_si256(d, k));
    }
    for (; i + 32 <= n; i += 32) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(src + i));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i), _mm256_xor_si256(a, k));
    }
    wsf_mask_scalar(dst + i, src + i, n - i, key);
}
#endif

#if defined(WSF_HAVE_AVX2_TARGET)
WSF_TARGET_AVX2 static inline __m256i table16_avx2(const uint8_t t[16])
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)t);
    return _mm256_broadcastsi128_si256(x);
}

/* The Keiser-Lemire check of one 32-byte block against the block before it:
 * returns the error bits of the pairs and triples ending in this block. */
WSF_TARGET_AVX2 static inline __m256i kl_block_avx2(__m256i in, __m256i prev, __m256i t1h, __m256i t1l,
                                                     __m256i t2h)
{
    const __m256i nib = _mm256_set1_epi8(0x0F);
    __m256i shifted = _mm256_permute2x128_si256(prev, in, 0x21);
    __m256i prev1 = _mm256_alignr_epi8(in, shifted, 15);
    __m256i prev2 = _mm256_alignr_epi8(in, shifted, 14);
    __m256i prev3 = _mm256_alignr_epi8(in, shifted, 13);
    __m256i b1h = _mm256_shuffle_epi8(t1h, _mm256_and_si256(_mm256_srli_epi16(prev1, 4), nib));
    __m256i b1l = _mm256_shuffle_epi8(t1l, _mm256_and_si256(prev1, nib));
    __m256i b2h = _mm256_shuffle_epi8(t2h, _mm256_and_si256(_mm256_srli_epi16(in, 4), nib));
    __m256i sc = _mm256_and_si256(_mm256_and_si256(b1h, b1l), b2h);
    __m256i must23 = _mm256_or_si256(_mm256_subs_epu8(prev2, _mm256_set1_epi8((char)(0xE0 - 0x80))),
                                     _mm256_subs_epu8(prev3, _mm256_set1_epi8((char)(0xF0 - 0x80))));
    __m256i must23_80 = _mm256_and_si256(must23, _mm256_set1_epi8((char)0x80));
    return _mm256_xor_si256(must23_80, sc);
}

WSF_TARGET_AVX2 int wsf_utf8_check_avx2(const uint8_t *p, size_t n)
{
    const __m256i t1h = table16_avx2(wsf_kl_byte_1_high);
    const __m256i t1l = table16_avx2(wsf_kl_byte_1_low);
    const __m256i t2h = table16_avx2(wsf_kl_byte_2_high);
    const __m256i maxv = _mm256_loadu_si256((const __m256i *)(const void *)wsf_kl_incomplete_max);
    __m256i prev = _mm256_setzero_si256();
    __m256i prev_incomplete = _mm256_setzero_si256();
    __m256i error = _mm256_setzero_si256();
    size_t i = 0;
    /* Two blocks per step: one ASCII test covers 64 bytes. */
    for (; i + 64 <= n; i += 64) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(p + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(p + i + 32));
        if (_mm256_movemask_epi8(_mm256_or_si256(a, b)) == 0) {
            error = _mm256_or_si256(error, prev_incomplete);
            prev_incomplete = _mm256_setzero_si256();
        } else {
            error = _mm256_or_si256(error, kl_block_avx2(a, prev, t1h, t1l, t2h));
            error = _mm256_or_si256(error, kl_block_avx2(b, a, t1h, t1l, t2h));
            prev_incomplete = _mm256_subs_epu8(b, maxv);
        }
        prev = b;
        if ((i & 4095) == 0 && !_mm256_testz_si256(error, error))
            return 0;  /* stop early: the caller rescans for the offset */
    }
    /* The rest, zero-padded: padding is ASCII, so it also flags a sequence
     * cut off at n. */
    while (i < n) {
        uint8_t tail[32];
        memset(tail, 0, sizeof tail);
        memcpy(tail, p + i, n - i < 32 ? n - i : 32);
        __m256i in = _mm256_loadu_si256((const __m256i *)(const void *)tail);
        error = _mm256_or_si256(error, kl_block_avx2(in, prev, t1h, t1l, t2h));
        prev_incomplete = _mm256_subs_epu8(in, maxv);
        prev = in;
        i += 32;
    }
    error = _mm256_or_si256(error, prev_incomplete);
    return _mm256_testz_si256(error, error);
}
#endif
