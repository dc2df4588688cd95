/* SB_SIMD goes right before a loop whose iterations are independent (element-wise kernels):
 * it asks the compiler to vectorise the loop whatever -O2's cheap cost model thinks of the
 * unknown trip count or possible aliasing (OpenMP 'omp simd'; nothing in a build without
 * OpenMP). Never put it on a reduction: float sums keep their fixed order. */
#ifndef SALBENCH_SIMD_H
#define SALBENCH_SIMD_H

#include <stdint.h>
#include <string.h>

#ifdef _OPENMP
#define SB_SIMD _Pragma("omp simd")
#else
#define SB_SIMD
#endif

/* v where pass (0 or 1), else +0, as a bit mask: GCC 12 turns "pass ? v : 0" into a branch,
 * which stops the loop's vectorisation, once the result is stored rather than added to a value
 * it loaded. */
static inline float sb_keep_if(int pass, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    bits &= -(uint32_t)pass;
    memcpy(&v, &bits, sizeof v);
    return v;
}

#endif
