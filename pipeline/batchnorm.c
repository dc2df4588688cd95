/* Batch normalisation kernels (see batchnorm.h). Formulas: PyTorch BatchNorm2d docs and
 * aten/src/ATen/native/Normalization.cpp (batch_norm_cpu_update_stats_template). */
#include "pipeline/batchnorm.h"

#include <math.h>
#include <stddef.h>

#include "pipeline/err.h"

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
        double s = 0, ss = 0;
        for (int n = 0; n < N; n++) {
            const float *x = inp + ((size_t)n * C + c) * HW;
            for (int i = 0; i < HW; i++)
                s += x[i];
        }
        double mean = s / M;
        for (int n = 0; n < N; n++) {
            const float *x = inp + ((size_t)n * C + c) * HW;
            for (int i = 0; i < HW; i++)
                ss += (x[i] - mean) * (x[i] - mean);
        }
        double var = ss / M;
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
            for (int i = 0; i < HW; i++)
                y[i] = x[i] * scale + shift;
        }
    }
    if (bad) return err_set("cannot run batch norm: batch statistics are not finite");
    return 0;
}

void batchnorm_backward_eval(float *dinp, float *dgamma, float *dbeta, const float *dout,
                             const float *inp, const float *gamma, const float *mean,
                             const float *var, float eps, int N, int C, int HW, int nthreads)
{
    (void)nthreads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads)
#endif
    for (int c = 0; c < C; c++) {
        float invstd = 1.0f / sqrtf(var[c] + eps), scale = gamma[c] * invstd;
        double sdy = 0, sdyx = 0;
        for (int n = 0; n < N; n++) {
            const float *dy = dout + ((size_t)n * C + c) * HW;
            const float *x = inp + ((size_t)n * C + c) * HW;
            float *dx = dinp ? dinp + ((size_t)n * C + c) * HW : NULL;
            for (int i = 0; i < HW; i++) {
                sdy += dy[i];
                sdyx += (double)dy[i] * ((x[i] - mean[c]) * invstd);
                if (dx) dx[i] += dy[i] * scale;
            }
        }
        if (dgamma) dgamma[c] += (float)sdyx;
        if (dbeta) dbeta[c] += (float)sdy;
    }
}

void batchnorm_backward_train(float *dinp, float *dgamma, float *dbeta, const float *dout,
                              const float *inp, const float *gamma, const float *save_mean,
                              const float *save_invstd, int N, int C, int HW, int nthreads)
{
    (void)nthreads;
    double M = (double)N * HW;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads)
#endif
    for (int c = 0; c < C; c++) {
        float mean = save_mean[c], invstd = save_invstd[c];
        double sdy = 0, sdyx = 0;
        for (int n = 0; n < N; n++) {
            const float *dy = dout + ((size_t)n * C + c) * HW;
            const float *x = inp + ((size_t)n * C + c) * HW;
            for (int i = 0; i < HW; i++) {
                sdy += dy[i];
                sdyx += (double)dy[i] * ((x[i] - mean) * invstd);
            }
        }
        if (dgamma) dgamma[c] += (float)sdyx;
        if (dbeta) dbeta[c] += (float)sdy;
        if (!dinp) continue;
        float k = gamma[c] * invstd, a = (float)(sdy / M), b = (float)(sdyx / M);
        for (int n = 0; n < N; n++) {
            const float *dy = dout + ((size_t)n * C + c) * HW;
            const float *x = inp + ((size_t)n * C + c) * HW;
            float *dx = dinp + ((size_t)n * C + c) * HW;
            for (int i = 0; i < HW; i++)
                dx[i] += k * (dy[i] - a - (x[i] - mean) * invstd * b);
        }
    }
}
