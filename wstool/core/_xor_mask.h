/*
 * xor_mask(): RFC 6455 section 5.3's masking, shared by wstool's C modules
 * (core/_speedups.c, session/_records.c).  16 bytes at a time with SSE2 where
 * the compiler targets it (every x86-64), then 8 bytes at a time on a 64-bit
 * word built from the key, then byte by byte.  Include after <Python.h>.
 */
#ifndef WSTOOL_XOR_MASK_H
#define WSTOOL_XOR_MASK_H

#include <stdint.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

static void
xor_mask(const unsigned char *src, unsigned char *dst, Py_ssize_t n, const unsigned char k[4])
{
    unsigned char k8[8] = {k[0], k[1], k[2], k[3], k[0], k[1], k[2], k[3]};
    uint64_t k64;
    Py_ssize_t i = 0;

#ifdef __SSE2__
    /* 16 bytes at a time; the key repeats every 4 bytes, so one 16-byte
       pattern of it serves every block (i stays a multiple of 4). */
    {
        __m128i k128 = _mm_set1_epi32((int)((uint32_t)k[0] | ((uint32_t)k[1] << 8) |
                                            ((uint32_t)k[2] << 16) | ((uint32_t)k[3] << 24)));
        for (; i + 64 <= n; i += 64) {
            __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
            __m128i b = _mm_loadu_si128((const __m128i *)(src + i + 16));
            __m128i c = _mm_loadu_si128((const __m128i *)(src + i + 32));
            __m128i d = _mm_loadu_si128((const __m128i *)(src + i + 48));
            _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, k128));
            _mm_storeu_si128((__m128i *)(dst + i + 16), _mm_xor_si128(b, k128));
            _mm_storeu_si128((__m128i *)(dst + i + 32), _mm_xor_si128(c, k128));
            _mm_storeu_si128((__m128i *)(dst + i + 48), _mm_xor_si128(d, k128));
        }
        for (; i + 16 <= n; i += 16) {
            __m128i a = _mm_loadu_si128((const __m128i *)(src + i));
            _mm_storeu_si128((__m128i *)(dst + i), _mm_xor_si128(a, k128));
        }
    }
#endif
    memcpy(&k64, k8, 8);
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, src + i, 8);
        w ^= k64;
        memcpy(dst + i, &w, 8);
    }
    for (; i < n; i++) {
        dst[i] = src[i] ^ k[i & 3];
    }
}

#endif /* WSTOOL_XOR_MASK_H */
