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
/* MSVC's intrinsics instead of GCC's builtins and inline assembly (CI also
 * compiles this branch with Clang's MSVC-compatible intrinsics through
 * WSF_MSVC_INTRINSICS: see .ci/cross-c.sh). */
#if (defined(_MSC_VER) && !defined(__clang__)) || defined(WSF_MSVC_INTRINSICS)
#define WSF_MSVC 1
#endif
/* Run-time selected SSSE3/AVX2/AVX-512 code (WSF_HAVE_AVX2_TARGET): GCC and
 * Clang compile it with target attributes, so one file holds code for several
 * levels; MSVC has no such attribute but accepts the intrinsics anywhere, and
 * setup.py compiles the files of those kernels (wsf_avx2.c, wsf_avx512.c) with
 * /arch:AVX2 and /arch:AVX512. Each half of a macOS universal2 build sees only
 * its own architecture's macros, so no x86 intrinsic reaches the arm64 half. */
#if defined(WSF_X86) && (defined(__GNUC__) || defined(__clang__))
#define WSF_HAVE_AVX2_TARGET 1
#define WSF_TARGET_SSSE3 __attribute__((target("ssse3")))
#define WSF_TARGET_AVX2 __attribute__((target("avx2")))
#define WSF_TARGET_AVX512 __attribute__((target("avx512f,avx512bw")))
#elif defined(WSF_X86) && defined(WSF_MSVC)
#define WSF_HAVE_AVX2_TARGET 1
#define WSF_TARGET_SSSE3
#define WSF_TARGET_AVX2
#define WSF_TARGET_AVX512
#endif

/* Shared state is read and written with atomic loads and stores (the
 * extension runs without the GIL on free-threaded CPython): every value
 * stored is valid on its own, so relaxed order is enough for the level and
 * acquire/release orders the one-time CPU detection. */
#if defined(WSF_MSVC)
#include <intrin.h>
#define WSF_LOAD(p) ((int)__iso_volatile_load32((const volatile __int32 *)(p)))
#define WSF_LOAD_ACQUIRE(p) ((int)_InterlockedOr((volatile long *)(p), 0))
#define WSF_STORE(p, v) __iso_volatile_store32((volatile __int32 *)(p), (__int32)(v))
#define WSF_STORE_RELEASE(p, v) ((void)_InterlockedExchange((volatile long *)(p), (long)(v)))
#else
#define WSF_LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define WSF_LOAD_ACQUIRE(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define WSF_STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define WSF_STORE_RELEASE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#endif

/* Index of the lowest set bit of m (m != 0). */
#if defined(WSF_MSVC)
static __inline unsigned wsf_ctz(unsigned m)
{
    unsigned long i;
    _BitScanForward(&i, m);
    return (unsigned)i;
}
#else
#define wsf_ctz(m) ((unsigned)__builtin_ctz(m))
#endif

/* The active enum wsf_simd_level (-1 before wsf_init): read it with
 * wsf_current_level(), change it with wsf_set_simd_level(). */
extern int wsf_level;
/* The CPU's features, detected once: the highest level in the low byte, bit 8
 * set when it has SSSE3 (x86: pshufb for the 128-bit UTF-8 check). */
#define WSF_CPU_SSSE3 0x100
int wsf_cpu_features(void);
static inline int wsf_current_level(void) { return WSF_LOAD(&wsf_level); }
static inline int wsf_has_ssse3(void) { return (wsf_cpu_features() & WSF_CPU_SSSE3) != 0; }

#if defined(WSF_X86) || defined(WSF_ARM64)
/* Keiser-Lemire lookup tables (wsf_utf8.c), shared by the SIMD filters. */
extern const uint8_t wsf_kl_byte_1_high[16];
extern const uint8_t wsf_kl_byte_1_low[16];
extern const uint8_t wsf_kl_byte_2_high[16];
extern const uint8_t wsf_kl_incomplete_max[32];
#endif
#if defined(WSF_HAVE_AVX2_TARGET)
extern const uint8_t wsf_kl_incomplete_max64[64];
#endif

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
