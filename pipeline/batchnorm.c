/* Batch normalisation kernels (see batchnorm.h). Formulas: PyTorch BatchNorm2d docs and
 * aten/src/ATen/native/Normalization.cpp (batch_norm_cpu_update_stats_template). */
#include "pipeline/batchnorm.h"

#include <math.h>
#include <stddef.h>

#include "pipeline/err.h"
#include "pipeline/simd.h"

/* Per-channel sums run in BN_LANES double accumulators (element i of a plane goes to lane
 * i % BN_LANES), combined in lane order: vectorisable, and fixed by the layout alone. */
#define BN_LANES 8

static double lanes_total(const double *a)
{
    double t = 0;
    for (int k = 0; k < BN_LANES; k++)
        t += a[k];
    return t;
}

/* s += x, q += x*x over one plane. */
static void sums_x(double *restrict s, double *restrict q, const float *x, int n)
{
    int i = 0;
    for (; i + BN_LANES <= n; i += BN_LANES)
        for (int k = 0; k < BN_LANES; k++) {
            double v = x[i + k];
            s[k] += v;
            q[k] += v * v;
        }
    for (; i < n; i++) {
        double v = x[i];
        s[i % BN_LANES] += v;
        q[i % BN_LANES] += v * v;
    }
}

/* s += dy, q += dy * xhat with xhat = (x - mean) * invstd, over one plane. */
static void sums_dy(double *restrict s, double *restrict q, const float *dy, const float *x,
                    float mean, float invstd, int n)
{
    int i = 0;
    for (; i + BN_LANES <= n; i += BN_LANES)
        for (int k = 0; k < BN_LANES; k++) {
            s[k] += dy[i + k];
            q[k] += (double)dy[i + k] * ((x[i + k] - mean) * invstd);
        }
    for (; i < n; i++) {
        s[i % BN_LANES] += dy[i];
        q[i % BN_LANES] += (double)dy[i] * ((x[i] - mean) * invstd);
    }
}

void batchnorm_forward_eval(float *out, const float *inp, const float *gamma, const float *beta,
                            const float *mean, const float *var, float eps, int N, int C, int HW,
                            int nthreads)
{
    (void)nthreads;
#ifdef _OPENMP
#pragma omp parallel for collapse(2) schedule(static) num_threads(nthreads)
#endif
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            float invstd = 1.0f / sqrtf(var[c] + eps);
            float scale = gamma[c] * invstd, shift = beta[c] - mean[c] * scale;
            const float *x = inp + ((size_t)n * C + c) * HW;
            float *y = out + ((size_t)n * C + c) * HW;
            SB_SIMD
            for (int i = 0; i < HW; i++)
                y[i] = x[i] * scale + shift;
        }
}

int batchnorm_forward_train(float *out, float *save_mean, float *save_invstd,
                            float *running_mean, float *running_var, const float *inp,
                            const float *gamma, const float *beta, float eps, float momentum,
                            int N, int C, int HW, int nthreads)
{
    (void)nthreads;
    int bad = 0;
    double M = (double)N * HW;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads) reduction(| : bad)
#endif
    for (int c = 0; c < C; c++) {
        /* one pass: sum and sum of squares in double (cancellation in ss/M - mean^2 costs
         * ~1e-16 * mean^2/var relative, negligible for activations) */
        double s[BN_LANES] = {0}, ss[BN_LANES] = {0};
        for (int n = 0; n < N; n++)
            sums_x(s, ss, inp + ((size_t)n * C + c) * HW, HW);
        double mean = lanes_total(s) / M, var = lanes_total(ss) / M - mean * mean;
        if (var < 0) var = 0;
        if (!isfinite(mean) || !isfinite(var)) bad = 1;
        float invstd = (float)(1.0 / sqrt(var + eps));
        save_mean[c] = (float)mean;
        save_invstd[c] = invstd;
        double unbiased = M > 1 ? var * M / (M - 1) : var;
        running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mean);
        running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
        float scale = gamma[c] * invstd, shift = beta[c] - (float)mean * scale;
        for (int n = 0; n < N; n++) {
            const float *x = inp + ((size_t)n * C + c) * HW;
            float *y = out + ((size_t)n * C + c) * HW;
            SB_SIMD
            for (int i = 0; i < HW; i++)
                y[i] = x[i] * scale + shift;
        }
    }
    if (bad) return err_set("cannot run batch norm: batch statistics are not finite");
    return 0;
}

void batchnorm_backward_eval(float *dinp, float *dgamma, float *dbeta, const float *dout,
                             const float *inp, const float *gamma, const float *mean,
                             const float *var, float eps, int N, int C, int HW, int accumulate,
                             int nthreads)
{
    (void)nthreads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads)
#endif
    for (int c = 0; c < C; c++) {
        float invstd = 1.0f / sqrtf(var[c] + eps), scale = gamma[c] * invstd;
        double sdy[BN_LANES] = {0}, sdyx[BN_LANES] = {0};
        for (int n = 0; n < N; n++) {
            const float *dy = dout + ((size_t)n * C + c) * HW;
            if (dgamma || dbeta)
                sums_dy(sdy, sdyx, dy, inp + ((size_t)n * C + c) * HW, mean[c], invstd, HW);
            if (!dinp) continue;
            float *dx = dinp + ((size_t)n * C + c) * HW;
            if (accumulate) {
                SB_SIMD
                for (int i = 0; i < HW; i++)
                    dx[i] += dy[i] * scale;
            } else {
                SB_SIMD
                for (int i = 0; i < HW; i++)
                    dx[i] = 0.0f + dy[i] * scale;
            }
        }
        if (dgamma) dgamma[c] += (float)lanes_total(sdyx);
        if (dbeta) dbeta[c] += (float)lanes_total(sdy);
    }
}

void batchnorm_backward_train(float *dinp, float *dgamma, float *dbeta, const float *dout,
                              const float *inp, const float *gamma, const float *save_mean,
                              const float *save_invstd, int N, int C, int HW, int accumulate,
                              int nthreads)
{
    (void)nthreads;
    double M = (double)N * HW;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads)
#endif
    for (int c = 0; c < C; c++) {
        float mean = save_mean[c], invstd = save_invstd[c];
        double sdy[BN_LANES] = {0}, sdyx[BN_LANES] = {0};
        for (int n = 0; n < N; n++)
            sums_dy(sdy, sdyx, dout + ((size_t)n * C + c) * HW, inp + ((size_t)n * C + c) * HW,
                    mean, invstd, HW);
        double tdy = lanes_total(sdy), tdyx = lanes_total(sdyx);
        if (dgamma) dgamma[c] += (float)tdyx;
        if (dbeta) dbeta[c] += (float)tdy;
        if (!dinp) continue;
        float k = gamma[c] * invstd, a = (float)(tdy / M), b = (float)(tdyx / M);
        for (int n = 0; n < N; n++) {
            const float *dy = dout + ((size_t)n * C + c) * HW;
            const float *x = inp + ((size_t)n * C + c) * HW;
            float *dx = dinp + ((size_t)n * C + c) * HW;
            if (accumulate) {
                SB_SIMD
                for (int i = 0; i < HW; i++)
                    dx[i] += k * (dy[i] - a - (x[i] - mean) * invstd * b);
            } else {
                SB_SIMD
                for (int i = 0; i < HW; i++)
                    dx[i] = 0.0f + k * (dy[i] - a - (x[i] - mean) * invstd * b);
            }
        }
    }
}
