/* Internal declarations shared by the C core's files. */
#ifndef WSFRAME_INTERNAL_H
#define WSFRAME_INTERNAL_H

#include "wsframe_core.h"

#if defined(__x86_64__) || defined(_M_X64)
#define WSF_X86 1
#endif
#if defined(__aarch64__) || defined(_M_ARM64)
#define WSF_ARM64 1
#endif
/* Run-time selected AVX2 code needs the GCC/Clang target attribute. */
#if defined(WSF_X86) && (defined(__GNUC__) || defined(__clang__))
#define WSF_HAVE_AVX2_TARGET 1
#define WSF_TARGET_AVX2 __attribute__((target("avx2")))
#define WSF_TARGET_AVX512 __attribute__((target("avx512f,avx512bw")))
#endif

extern int wsf_level;  /* active enum wsf_simd_level */
extern int wsf_has_ssse3;  /* x86: pshufb for the 128-bit UTF-8 check */

void wsf_mask_scalar(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4]);
#if defined(WSF_X86)
void wsf_mask_sse2(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4]);
#endif
#if defined(WSF_HAVE_AVX2_TARGET)
void wsf_mask_avx2(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4]);
/* 1 when p[0..n) is valid and complete UTF-8 (SIMD filter, no offset). */
int wsf_utf8_check_avx2(const uint8_t *p, size_t n);
int wsf_utf8_check_avx512(const uint8_t *p, size_t n);
#endif
#if defined(WSF_ARM64)
void wsf_mask_neon(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4]);
int wsf_utf8_check_neon(const uint8_t *p, size_t n);
#endif

#endif
