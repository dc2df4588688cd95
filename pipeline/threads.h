/* The OpenMP thread number inside a parallel region (0 in a serial build), for kernels that
 * give each thread its own scratch slice. */
#ifndef SALBENCH_THREADS_H
#define SALBENCH_THREADS_H

#ifdef _OPENMP
#include <omp.h>
#endif

static inline int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

#endif
