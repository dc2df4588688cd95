/* SB_SIMD goes right before a loop whose iterations are independent (element-wise kernels):
 * it asks the compiler to vectorise the loop whatever -O2's cheap cost model thinks of the
 * unknown trip count or possible aliasing (OpenMP 'omp simd'; nothing in a build without
 * OpenMP). Never put it on a reduction: float sums keep their fixed order. */
#ifndef SALBENCH_SIMD_H
#define SALBENCH_SIMD_H

#ifdef _OPENMP
#define SB_SIMD _Pragma("omp simd")
#else
#define SB_SIMD
#endif

#endif
