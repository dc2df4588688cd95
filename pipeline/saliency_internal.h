/* Private to pipeline/saliency*.c: the per-call context every method receives, workspace
 * carving (sizing and carving run the same code, with a NULL base when sizing), and the
 * helpers methods share (trial batches, one-hot seeds, channel reductions, upsampling,
 * TorchRay's Gaussian smoothing, scores). Nothing outside the saliency module includes it. */
#ifndef SALBENCH_SALIENCY_INTERNAL_H
#define SALBENCH_SALIENCY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/net.h"
#include "pipeline/saliency.h"

/* One call of saliency_compute (or a sizing run: in == NULL, net read only for shapes). */
struct sal_run {
    struct net *net;
    const struct saliency_params *p;
    const struct saliency_input *in;
    struct saliency_cost *cost;
    int nthreads;
    int C, H, W, HW; /* input shape */
    int K;           /* logits size */
    int logits;      /* layer index of the logits */
    int score_layer; /* layer read by perturbation methods (output head or logits) */
    int max_batch;
};

/* Carves 64-byte aligned float buffers from a workspace; base NULL only counts. */
struct sal_carve {
    float *base;
    size_t used;
};
static inline float *sal_take(struct sal_carve *c, size_t n)
{
    size_t off = c->used;
    c->used += (n + 15) & ~(size_t)15;
    return c->base ? c->base + off : NULL;
}

/* Method entry points: fill maps [in->t, H, W] for all trials. Each carves its buffers from
 * w (sizing runs call them with r->in == NULL and must only carve). */
int sal_center_run(struct sal_run *r, float *maps, struct sal_carve *w);
int sal_random_run(struct sal_run *r, float *maps, struct sal_carve *w);
int sal_backprop_run(struct sal_run *r, float *maps, struct sal_carve *w);
int sal_excitation_run(struct sal_run *r, float *maps, struct sal_carve *w);
int sal_path_run(struct sal_run *r, float *maps, struct sal_carve *w);
int sal_occlusion_run(struct sal_run *r, float *maps, struct sal_carve *w);
int sal_rise_run(struct sal_run *r, float *maps, struct sal_carve *w);
int sal_ep_run(struct sal_run *r, float *maps, struct sal_carve *w);

/* ---- shared helpers (saliency_common.c) ------------------------------------------------ */

/* Trials from t0 that make one batch: whole examples (trials are grouped by example) while they
 * fit in max_batch, or max_batch trials of an example that has more. Batches then never split
 * an example that fits, so the forward passes counted are one per example, whatever the batch
 * size, sharding or the examples around it. */
int sal_batch_trials(const struct sal_run *r, int t0);
/* Forward of trials [t0, t0+nb) as if row i held trial t0+i's image: each distinct example
 * is forwarded once and its rows copied to its other trials (net_expand_rows). Returns the
 * number of forwarded images, -1 on error. src: [max_batch]. */
int sal_forward_trials(struct sal_run *r, int t0, int nb, int *src);
/* seed [nb, K] = value at cls[t0+i] of row i, 0 elsewhere. */
void sal_onehot(float *seed, const struct sal_run *r, int t0, int nb, float value);
/* Number of trials of the example of trial t0 (t0 .. t0+count-1 share it). */
int sal_example_trials(const struct saliency_input *in, int t0);

/* out [nb, HW] = reduction over C of a [nb, C, HW] (times x [nb, C, HW] when x != NULL). */
void sal_reduce(float *out, const float *a, const float *x, int nb, int C, int HW,
                enum saliency_reduce how, int nthreads);
/* out [H,W] = in [h,w] resized (bilinear align_corners=False, or PyTorch "nearest"). */
void sal_upsample(float *out, const float *in, int h, int w, int H, int W,
                  enum saliency_upsample mode);

/* TorchRay utils.imsmooth on one [H,W] plane, in place: separable Gaussian (vertical then
 * horizontal), taps exp(-(i / (sqrt(2) sigma + eps))^2), i in [-ceil(4 sigma), ceil(4 sigma)],
 * normalised to sum 1; padding replicate (replicate = 1) or zero. scratch: H*W floats.
 * sigma == 0 leaves the plane unchanged. */
void sal_smooth(float *plane, int H, int W, double sigma, int replicate, float *scratch);
/* Filter taps as above into taps[2*ceil(4 sigma) + 1]; returns the radius. */
int sal_gauss_taps(float *taps, double sigma);
#define SAL_MAX_RADIUS 512

/* Scores of the last forward at the score layer: [n, K] pointer (the layer's activation). */
const float *sal_scores(const struct sal_run *r);

/* Checks maps [t, HW] are finite; err_set naming the first bad trial otherwise. */
int sal_check_finite(const struct sal_run *r, const float *maps);

/* 16-float GCC vector types (one AVX-512 register, two AVX2 ones) for explicit SIMD: GCC at
 * -O2 does not vectorise loops that call a polynomial exp, even under omp simd. Only static
 * functions of the saliency module take them by value, so the psabi note about wide vectors
 * without AVX (a cross-unit ABI concern) does not apply; it is silenced for these units. */
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float sal_vf __attribute__((vector_size(64)));
typedef int32_t sal_vi __attribute__((vector_size(64)));
#define SAL_VL 16

static inline sal_vf sal_splat(float x)
{
    return (sal_vf){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x};
}

/* Lanes of a where m is set, else b (m: the -1/0 lanes of a vector compare). */
static inline sal_vf sal_blend(sal_vi m, sal_vf a, sal_vf b)
{
    return (sal_vf)(((sal_vi)a & m) | ((sal_vi)b & ~m));
}

/* exp on every lane for x <= 88 (clamped below at -87): 2^n e^r with n = floor(x / ln 2 + 1/2),
 * r = x - n ln 2 (Cody-Waite, two parts), e^r by its degree-7 Taylor polynomial (|r| <= 0.35:
 * truncation < 6e-9); within 3 ulp of expf (tests/test_saliency.c). */
static inline sal_vf sal_vexp(sal_vf x)
{
    x = sal_blend(x < sal_splat(-87.0f), sal_splat(-87.0f), x);
    sal_vf y = x * sal_splat(1.44269504088896341f) + sal_splat(0.5f);
    sal_vf n = __builtin_convertvector(__builtin_convertvector(y, sal_vi), sal_vf);
    n = sal_blend(n > y, n - sal_splat(1.0f), n); /* floor */
    sal_vf r = x - n * sal_splat(0.693145751953125f);
    r = r - n * sal_splat(1.428606820309417232e-6f);
    sal_vf p = sal_splat(1.0f / 5040);
    p = p * r + sal_splat(1.0f / 720);
    p = p * r + sal_splat(1.0f / 120);
    p = p * r + sal_splat(1.0f / 24);
    p = p * r + sal_splat(1.0f / 6);
    p = p * r + sal_splat(0.5f);
    p = p * r + sal_splat(1.0f);
    p = p * r + sal_splat(1.0f);
    sal_vi bits = (__builtin_convertvector(n, sal_vi) + 127) << 23;
    return p * (sal_vf)bits;
}

/* Adds a forward/backward of nb images to the cost. */
static inline void sal_count(struct sal_run *r, uint64_t fwd, uint64_t bwd)
{
    if (r->cost) {
        r->cost->forward += fwd;
        r->cost->backward += bwd;
    }
}

#endif
