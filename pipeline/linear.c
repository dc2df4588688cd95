/* Linear layer kernels (see linear.h): three GEMMs, split over threads by gemm_sgemm_mt, so
 * results do not depend on the thread count. */
#include "pipeline/linear.h"

#include <stddef.h>

#include "pipeline/gemm.h"
#include "pipeline/simd.h"

void linear_forward(float *out, const float *inp, const float *weight, const float *bias, int N,
                    int C, int O, float *work, int nthreads)
{
    gemm_sgemm_mt(0, 1, N, O, C, inp, C, weight, C, 0.0f, out, O, work, nthreads);
    if (!bias) return;
    for (int n = 0; n < N; n++) {
        float *row = out + (size_t)n * O;
        SB_SIMD
        for (int o = 0; o < O; o++)
            row[o] += bias[o];
    }
}

void linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight, int N, int C, int O, float *work,
                     int nthreads)
{
    if (dinp) gemm_sgemm_mt(0, 0, N, C, O, dout, O, weight, C, 1.0f, dinp, C, work, nthreads);
    if (dweight)
        gemm_sgemm_mt(1, 0, O, C, N, dout, O, inp, C, 1.0f, dweight, C, work, nthreads);
    if (dbias)
        for (int o = 0; o < O; o++) {
            float s = 0.0f;
            for (int n = 0; n < N; n++)
                s += dout[(size_t)n * O + o];
            dbias[o] += s;
        }
}
