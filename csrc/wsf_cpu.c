/* CPU detection and the choice of SIMD level (safe without the GIL). */
#include <stdlib.h>
#include <string.h>

#include "wsf_internal.h"

#if defined(WSF_X86) && defined(WSF_MSVC)
#include <intrin.h>
#include <immintrin.h>
#if !defined(_MSC_VER)  /* the CI check with MinGW headers, which leave it to MSVC's intrin.h */
void __cpuidex(int info[4], int leaf, int sub);
#endif
#elif defined(WSF_X86) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif

int wsf_level = -1;
/* Set once (any thread may be first; they all compute the same value). */
static int wsf_features = -1;

#if defined(WSF_HAVE_AVX2_TARGET)
/* cpuid leaf, subleaf -> eax, ebx, ecx, edx; 0 when the leaf is not there. */
static int cpuid(unsigned int leaf, unsigned int sub, unsigned int r[4])
{
#if defined(WSF_MSVC)
    int info[4];
    __cpuid(info, 0);
    if ((unsigned int)info[0] < leaf)
        return 0;
    __cpuidex(info, (int)leaf, (int)sub);
    for (int i = 0; i < 4; i++)
        r[i] = (unsigned int)info[i];
    return 1;
#else
    if (__get_cpuid_max(0, NULL) < leaf)
        return 0;
    __cpuid_count(leaf, sub, r[0], r[1], r[2], r[3]);
    return 1;
#endif
}

/* XCR0: the register states the OS saves (only read when OSXSAVE is set). */
static unsigned int xcr0(void)
{
#if defined(WSF_MSVC)
    return (unsigned int)_xgetbv(0);
#else
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    return lo;
#endif
}
#endif

static int detect(void)
{
#if defined(WSF_ARM64)
    return WSF_NEON;  /* NEON is part of the arm64 baseline */
#elif defined(WSF_X86)
#if defined(WSF_HAVE_AVX2_TARGET)
    unsigned int r[4];
    if (!cpuid(1, 0, r))
        return WSF_SSE2;
    const int ssse3 = (r[2] & (1u << 9)) ? WSF_CPU_SSSE3 : 0;
    /* AVX needs OSXSAVE and the OS saving YMM state (XCR0 bits 1 and 2). */
    if (!(r[2] & (1u << 27)) || !(r[2] & (1u << 28)))
        return WSF_SSE2 | ssse3;
    const unsigned int x = xcr0();
    if ((x & 6u) != 6u || !cpuid(7, 0, r) || !(r[1] & (1u << 5)))
        return WSF_SSE2 | ssse3;
    /* AVX-512 F and BW, with the OS saving opmask and ZMM state (XCR0 5-7). */
    if ((r[1] & (1u << 16)) && (r[1] & (1u << 30)) && (x & 0xE0u) == 0xE0u)
        return WSF_AVX512 | ssse3;
    return WSF_AVX2 | ssse3;
#else
    return WSF_SSE2;  /* SSE2 is part of the x86-64 baseline */
#endif
#else
    return WSF_SCALAR;
#endif
}

int wsf_cpu_features(void)
{
    int f = WSF_LOAD_ACQUIRE(&wsf_features);
    if (f < 0) {
        f = detect();
        WSF_STORE_RELEASE(&wsf_features, f);
    }
    return f;
}

int wsf_set_simd_level(int level)
{
    const int max_level = wsf_cpu_features() & 0xFF;
    if (level < 0 || level > max_level)
        level = max_level;
    /* NEON and the x86 levels are different families: scalar is the only
     * common lower level. */
    if (max_level == WSF_NEON && level != WSF_NEON)
        level = WSF_SCALAR;
    WSF_STORE(&wsf_level, level);
    return level;
}

int wsf_init(void)
{
    const int current = wsf_current_level();
    if (current >= 0)
        return current;
    int level = -1;
    const char *env = getenv("WSFRAME_SIMD");
    if (env != NULL) {
        if (strcmp(env, "scalar") == 0)
            level = WSF_SCALAR;
        else if (strcmp(env, "sse2") == 0)
            level = WSF_SSE2;
        else if (strcmp(env, "avx2") == 0)
            level = WSF_AVX2;
        else if (strcmp(env, "avx512") == 0)
            level = WSF_AVX512;
    }
    return wsf_set_simd_level(level);
}

const char *wsf_simd_name(void)
{
    switch (wsf_init()) {
    case WSF_SSE2: return "sse2";
    case WSF_AVX2: return "avx2";
    case WSF_AVX512: return "avx512";
    case WSF_NEON: return "neon";
    default: return "scalar";
    }
}
