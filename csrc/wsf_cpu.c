/* CPU detection and the choice of SIMD level. */
#include <stdlib.h>
#include <string.h>

#include "wsf_internal.h"

#if defined(WSF_X86) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif

int wsf_level = -1;
int wsf_has_ssse3 = 0;
static int wsf_max_level = -1;

static int detect(void)
{
#if defined(WSF_ARM64)
    return WSF_NEON;  /* NEON is part of the arm64 baseline */
#elif defined(WSF_X86)
#if defined(WSF_HAVE_AVX2_TARGET)
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return WSF_SSE2;
    wsf_has_ssse3 = (c & (1u << 9)) != 0;
    /* AVX needs OSXSAVE and the OS saving YMM state (XCR0 bits 1 and 2). */
    if (!(c & (1u << 27)) || !(c & (1u << 28)))
        return WSF_SSE2;
    unsigned int xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    (void)xcr0_hi;
    if ((xcr0_lo & 6u) != 6u)
        return WSF_SSE2;
    if (__get_cpuid_max(0, NULL) < 7)
        return WSF_SSE2;
    __cpuid_count(7, 0, a, b, c, d);
    if (!(b & (1u << 5)))
        return WSF_SSE2;
    /* AVX-512 F and BW, with the OS saving opmask and ZMM state (XCR0 5-7). */
    if ((b & (1u << 16)) && (b & (1u << 30)) && (xcr0_lo & 0xE0u) == 0xE0u)
        return WSF_AVX512;
    return WSF_AVX2;
#else
    return WSF_SSE2;  /* SSE2 is part of the x86-64 baseline */
#endif
#else
    return WSF_SCALAR;
#endif
}

int wsf_set_simd_level(int level)
{
    if (wsf_max_level < 0)
        wsf_max_level = detect();
    if (level < 0 || level > wsf_max_level)
        level = wsf_max_level;
    /* NEON and the x86 levels are different families: scalar is the only
     * common lower level. */
    if (wsf_max_level == WSF_NEON && level != WSF_NEON)
        level = WSF_SCALAR;
    wsf_level = level;
    return level;
}

int wsf_init(void)
{
    if (wsf_level >= 0)
        return wsf_level;
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
