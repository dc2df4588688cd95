/* Pooling kernels (see pool.h). Window arithmetic follows PyTorch's CPU kernels
 * (aten/src/ATen/native/cpu/MaxPoolKernel.cpp, AvgPoolKernel.cpp, Pool.h). */
#include "pipeline/pool.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "pipeline/err.h"
#include "pipeline/simd.h"

static int out_size(int in, int k, int s, int p, int ceil_mode)
{
    int num = in + 2 * p - k + (ceil_mode ? s - 1 : 0);
    int o = (num >= 0 ? num / s : -((-num + s - 1) / s)) + 1;
    if (ceil_mode && (o - 1) * s >= in + p) o--;
    return o;
}

int pool2d_dims_init(struct pool2d_dims *d, int N, int C, int H, int W, int KH, int KW, int SH,
                     int SW, int PH, int PW, int ceil_mode, int count_include_pad)
{
    *d = (struct pool2d_dims){N,  C,  H,         W,
                              KH, KW, SH,        SW,
                              PH, PW, ceil_mode, count_include_pad,
                              0,  0};
    if (N <= 0 || C <= 0 || H <= 0 || W <= 0 || KH <= 0 || KW <= 0 || SH <= 0 || SW <= 0)
        return err_set("cannot set up pooling: non-positive size, kernel %dx%d or stride %dx%d",
                       KH, KW, SH, SW);
    if (PH < 0 || PW < 0 || 2 * PH > KH || 2 * PW > KW)
        return err_set("cannot set up pooling: padding %dx%d must be at most half the kernel "
                       "%dx%d", PH, PW, KH, KW);
    d->OH = out_size(H, KH, SH, PH, ceil_mode);
    d->OW = out_size(W, KW, SW, PW, ceil_mode);
    if (d->OH <= 0 || d->OW <= 0)
        return err_set("cannot set up pooling: kernel %dx%d too large for input %dx%d", KH, KW,
                       H, W);
    return 0;
}

/* Index (ih * W + iw) of the first maximum of the window at (oh, ow), -1 if empty. */
static int window_argmax(const float *x, const struct pool2d_dims *d, int oh, int ow)
{
    int h0 = oh * d->SH - d->PH, w0 = ow * d->SW - d->PW;
    int h1 = h0 + d->KH < d->H ? h0 + d->KH : d->H, w1 = w0 + d->KW < d->W ? w0 + d->KW : d->W;
    if (h0 < 0) h0 = 0;
    if (w0 < 0) w0 = 0;
    if (h0 >= h1 || w0 >= w1) return -1;
    int best = h0 * d->W + w0;
    float m = -INFINITY;
    for (int ih = h0; ih < h1; ih++)
        for (int iw = w0; iw < w1; iw++) {
            float v = x[ih * d->W + iw];
            int take = (v > m) | (v != v); /* no short-circuit: selects, not branches */
            m = take ? v : m;
            best = take ? ih * d->W + iw : best;
        }
    return best;
}

/* The PyTorch rule "v > m or v is NaN" as two selects (vmaxss + blend, no branch): random
 * activations made the branchy form mispredict on every other window. */
static inline float max_nan(float m, float v)
{
    float t = v > m ? v : m;
    return v != v ? v : t;
}

/* The common 2x2 stride-2 unpadded window, fully inside the input: first maximum wins. */
static int is_k2s2(const struct pool2d_dims *d)
{
    return d->KH == 2 && d->KW == 2 && d->SH == 2 && d->SW == 2 && d->PH == 0 && d->PW == 0 &&
           2 * d->OH <= d->H && 2 * d->OW <= d->W;
}

static int argmax4(const float *x, int W)
{
    float m = x[0], v = x[1];
    int t = (v > m) | (v != v), best = t ? 1 : 0;
    m = t ? v : m;
    v = x[W];
    t = (v > m) | (v != v);
    best = t ? W : best;
    m = t ? v : m;
    v = x[W + 1];
    t = (v > m) | (v != v);
    return t ? W + 1 : best;
}

void maxpool2d_forward(float *out, const float *inp, const struct pool2d_dims *d, int nthreads)
{
    int NC = d->N * d->C;
    (void)nthreads;
    if (is_k2s2(d)) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads)
#endif
        for (int p = 0; p < NC; p++)
            for (int oh = 0; oh < d->OH; oh++) {
                const float *x = inp + (size_t)p * d->H * d->W + (size_t)2 * oh * d->W;
                float *y = out + ((size_t)p * d->OH + oh) * d->OW;
                const float *x1 = x + d->W;
                for (int ow = 0; ow < d->OW; ow++) /* the value argmax4 picks */
                    y[ow] = max_nan(max_nan(max_nan(x[2 * ow], x[2 * ow + 1]), x1[2 * ow]),
                                    x1[2 * ow + 1]);
            }
        return;
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads)
#endif
    for (int p = 0; p < NC; p++) {
        const float *x = inp + (size_t)p * d->H * d->W;
        float *y = out + (size_t)p * d->OH * d->OW;
        for (int oh = 0; oh < d->OH; oh++)
            for (int ow = 0; ow < d->OW; ow++) {
                int i = window_argmax(x, d, oh, ow);
                y[oh * d->OW + ow] = i < 0 ? -INFINITY : x[i];
            }
    }
}

/* 2x2 stride-2 backward writing the plane whole: each window's 4 gradients (0 + dout at the
 * first maximum, +0 elsewhere, as += on a zeroed plane), +0 in rows and columns no window
 * covers. The first maximum is argmax4's chain of "v > m or v is NaN", as masks. */
static void maxpool_k2s2_backward_set(float *dx, const float *dy, const float *x,
                                      const struct pool2d_dims *d)
{
    int W = d->W, OW = d->OW;
    for (int oh = 0; oh < d->OH; oh++) {
        const float *x0 = x + (size_t)2 * oh * W, *x1 = x0 + W, *g = dy + (size_t)oh * OW;
        float *d0 = dx + (size_t)2 * oh * W, *d1 = d0 + W;
        SB_SIMD
        for (int ow = 0; ow < OW; ow++) {
            float a = x0[2 * ow], b = x0[2 * ow + 1], c = x1[2 * ow], e = x1[2 * ow + 1];
            float v = 0.0f + g[ow];
            int tb = (b > a) | (b != b);
            float m = tb ? b : a;
            int tc = (c > m) | (c != c);
            m = tc ? c : m;
            int te = (e > m) | (e != e);
            d0[2 * ow] = sb_keep_if(!tb & !tc & !te, v);
            d0[2 * ow + 1] = sb_keep_if(tb & !tc & !te, v);
            d1[2 * ow] = sb_keep_if(tc & !te, v);
            d1[2 * ow + 1] = sb_keep_if(te, v);
        }
        for (int w = 2 * OW; w < W; w++)
            d0[w] = d1[w] = 0.0f;
    }
    for (size_t i = (size_t)2 * d->OH * W; i < (size_t)d->H * W; i++)
        dx[i] = 0.0f;
}

void maxpool2d_backward(float *dinp, const float *dout, const float *inp,
                        const struct pool2d_dims *d, int accumulate, int nthreads)
{
    int NC = d->N * d->C;
    size_t HW = (size_t)d->H * d->W, OHW = (size_t)d->OH * d->OW;
    (void)nthreads;
    if (is_k2s2(d) && !accumulate) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads)
#endif
        for (int p = 0; p < NC; p++)
            maxpool_k2s2_backward_set(dinp + p * HW, dout + p * OHW, inp + p * HW, d);
        return;
    }
    if (!accumulate) /* overlapping or padded windows: zero, then add */
        memset(dinp, 0, sizeof(float) * NC * HW);
    if (is_k2s2(d)) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads)
#endif
        for (int p = 0; p < NC; p++)
            for (int oh = 0; oh < d->OH; oh++) {
                size_t off = (size_t)p * d->H * d->W + (size_t)2 * oh * d->W;
                const float *x = inp + off, *dy = dout + ((size_t)p * d->OH + oh) * d->OW;
                float *dx = dinp + off;
                for (int ow = 0; ow < d->OW; ow++)
                    dx[2 * ow + argmax4(x + 2 * ow, d->W)] += dy[ow];
            }
        return;
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads)
#endif
    for (int p = 0; p < NC; p++) {
        const float *x = inp + (size_t)p * d->H * d->W;
        const float *dy = dout + (size_t)p * d->OH * d->OW;
        float *dx = dinp + (size_t)p * d->H * d->W;
        for (int oh = 0; oh < d->OH; oh++)
            for (int ow = 0; ow < d->OW; ow++) {
                int i = window_argmax(x, d, oh, ow);
                if (i >= 0) dx[i] += dy[oh * d->OW + ow];
            }
    }
}

/* Clipped window [h0,h1) x [w0,w1) and its divisor; returns 0 for an empty window. */
static int avg_window(const struct pool2d_dims *d, int oh, int ow, int *h0, int *h1, int *w0,
                      int *w1, float *div)
{
    int a0 = oh * d->SH - d->PH, b0 = ow * d->SW - d->PW;
    int a1 = a0 + d->KH < d->H + d->PH ? a0 + d->KH : d->H + d->PH;
    int b1 = b0 + d->KW < d->W + d->PW ? b0 + d->KW : d->W + d->PW;
    int pool = (a1 - a0) * (b1 - b0);
    *h0 = a0 < 0 ? 0 : a0;
    *w0 = b0 < 0 ? 0 : b0;
    *h1 = a1 < d->H ? a1 : d->H;
    *w1 = b1 < d->W ? b1 : d->W;
    if (*h0 >= *h1 || *w0 >= *w1) return 0;
    *div = (float)(d->count_include_pad ? pool : (*h1 - *h0) * (*w1 - *w0));
    return 1;
}

void avgpool2d_forward(float *out, const float *inp, const struct pool2d_dims *d, int nthreads)
{
    int NC = d->N * d->C;
    (void)nthreads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads)
#endif
    for (int p = 0; p < NC; p++) {
        const float *x = inp + (size_t)p * d->H * d->W;
        float *y = out + (size_t)p * d->OH * d->OW;
        for (int oh = 0; oh < d->OH; oh++)
            for (int ow = 0; ow < d->OW; ow++) {
                int h0, h1, w0, w1;
                float div = 1.0f, s = 0.0f;
                if (avg_window(d, oh, ow, &h0, &h1, &w0, &w1, &div))
                    for (int ih = h0; ih < h1; ih++)
                        for (int iw = w0; iw < w1; iw++)
                            s += x[ih * d->W + iw];
                y[oh * d->OW + ow] = s / div;
            }
    }
}

void avgpool2d_backward(float *dinp, const float *dout, const struct pool2d_dims *d,
                        int nthreads)
{
    int NC = d->N * d->C;
    (void)nthreads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads)
#endif
    for (int p = 0; p < NC; p++) {
        const float *dy = dout + (size_t)p * d->OH * d->OW;
        float *dx = dinp + (size_t)p * d->H * d->W;
        for (int oh = 0; oh < d->OH; oh++)
            for (int ow = 0; ow < d->OW; ow++) {
                int h0, h1, w0, w1;
                float div = 1.0f;
                if (!avg_window(d, oh, ow, &h0, &h1, &w0, &w1, &div)) continue;
                float g = dy[oh * d->OW + ow] / div;
                for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++)
                        dx[ih * d->W + iw] += g;
            }
    }
}

void global_avgpool_forward(float *out, const float *inp, int N, int C, int HW, int nthreads)
{
    int NC = N * C;
    (void)nthreads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads)
#endif
    for (int p = 0; p < NC; p++) {
        const float *x = inp + (size_t)p * HW;
        double s = 0;
        for (int i = 0; i < HW; i++)
            s += x[i];
        out[p] = (float)(s / HW);
    }
}

void global_avgpool_backward(float *dinp, const float *dout, int N, int C, int HW, int nthreads)
{
    int NC = N * C;
    (void)nthreads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads)
#endif
    for (int p = 0; p < NC; p++) {
        float g = dout[p] / (float)HW;
        float *dx = dinp + (size_t)p * HW;
        SB_SIMD
        for (int i = 0; i < HW; i++)
            dx[i] += g;
    }
}
