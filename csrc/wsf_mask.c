/* XOR masking (RFC 6455 section 5.3): scalar, SSE2 and NEON paths, and the
 * dispatch (the AVX2 path is in wsf_avx2.c). */
#include <string.h>

#include "wsf_internal.h"

#if defined(WSF_X86)
#include <emmintrin.h>
#endif
#if defined(WSF_ARM64)
#include <arm_neon.h>
#endif

/* All paths take a key already rotated to the start of dst, so the SIMD
 * loops see a plain repeating 4-byte pattern. Loads and stores go through
 * memcpy or unaligned intrinsics: no alignment assumptions. */

void wsf_mask_scalar(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4])
{
    size_t i = 0;
    uint8_t k8[8];
    memcpy(k8, key, 4);
    memcpy(k8 + 4, key, 4);
    uint64_t k;
    memcpy(&k, k8, 8);
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        v ^= k;
        memcpy(dst + i, &v, 8);
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ key[i & 3];
}

#if defined(WSF_X86)
void wsf_mask_sse2(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4])
{
    int32_t k32;
    memcpy(&k32, key, 4);
    const __m128i k = _mm_set1_epi32(k32);
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(src + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(src + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(const void *)(src + i + 48));
        _mm_storeu_si128((__m128i *)(void *)(dst + i), _mm_xor_si128(a, k));
        _mm_storeu_si128((__m128i *)(void *)(dst + i + 16), _mm_xor_si128(b, k));
        _mm_storeu_si128((__m128i *)(void *)(dst + i + 32), _mm_xor_si128(c, k));
        _mm_storeu_si128((__m128i *)(void *)(dst + i + 48), _mm_xor_si128(d, k));
    }
    for (; i + 16 <= n; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
        _mm_storeu_si128((__m128i *)(void *)(dst + i), _mm_xor_si128(a, k));
    }
    wsf_mask_scalar(dst + i, src + i, n - i, key);  /* i is a multiple of 4 */
}
#endif

#if defined(WSF_ARM64)
void wsf_mask_neon(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4])
{
    uint32_t k32;
    memcpy(&k32, key, 4);
    const uint8x16_t k = vreinterpretq_u8_u32(vdupq_n_u32(k32));
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        uint8x16_t a = vld1q_u8(src + i), b = vld1q_u8(src + i + 16);
        uint8x16_t c = vld1q_u8(src + i + 32), d = vld1q_u8(src + i + 48);
        vst1q_u8(dst + i, veorq_u8(a, k));
        vst1q_u8(dst + i + 16, veorq_u8(b, k));
        vst1q_u8(dst + i + 32, veorq_u8(c, k));
        vst1q_u8(dst + i + 48, veorq_u8(d, k));
    }
    for (; i + 16 <= n; i += 16)
        vst1q_u8(dst + i, veorq_u8(vld1q_u8(src + i), k));
    wsf_mask_scalar(dst + i, src + i, n - i, key);
}
#endif

void wsf_mask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4], size_t offset)
{
    if (n < 256) {
        /* Short payloads (most frames): one inline word loop, no dispatch and
         * no call; the compiler vectorizes it with the baseline SIMD. */
        uint8_t k8[8];  /* the key rotated to start at offset, twice */
        for (int j = 0; j < 8; j++)
            k8[j] = key[(offset + (size_t)j) & 3];
        uint64_t k;
        memcpy(&k, k8, 8);
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t v;
            memcpy(&v, src + i, 8);
            v ^= k;
            memcpy(dst + i, &v, 8);
        }
        for (; i < n; i++)
            dst[i] = src[i] ^ k8[i & 7];
        return;
    }
    uint8_t k[4];
    for (int j = 0; j < 4; j++)
        k[j] = key[(offset + (size_t)j) & 3];
    switch (wsf_init()) {
#if defined(WSF_HAVE_AVX2_TARGET)
    case WSF_AVX512:  /* masking is bound by memory: AVX2 is enough */
    case WSF_AVX2:
        wsf_mask_avx2(dst, src, n, k);
        return;
#endif
#if defined(WSF_X86)
    case WSF_SSE2:
        wsf_mask_sse2(dst, src, n, k);
        return;
#endif
#if defined(WSF_ARM64)
    case WSF_NEON:
        wsf_mask_neon(dst, src, n, k);
        return;
#endif
    default:
        wsf_mask_scalar(dst, src, n, k);
    }
}
