/* Gradient-averaging methods of Captum: integrated gradients (Sundararajan et al. 2017;
 * Captum's quadratures, approximation_methods.py) and NoiseTunnel's smoothgrad, smoothgrad_sq
 * and vargrad (Smilkov et al. 2017; noise relative to the input range as the paper and PAIR's
 * saliency library). The interpolated or noisy copies of one example go through the net in
 * batches of up to max_batch and each batch is shared by the example's trials (one backward
 * per trial). Sums over steps and samples run in index order, whatever the batching. */
#include <math.h>
#include <string.h>

#include "pipeline/err.h"
#include "pipeline/rng.h"
#include "pipeline/saliency_internal.h"
#include "pipeline/stats.h"

/* Legendre P_n(x) and its derivative by the three-term recurrence. */
static void legendre(int n, double x, double *p, double *dp)
{
    double p0 = 1, p1 = x;
    for (int k = 2; k <= n; k++) {
        double pk = ((2 * k - 1) * x * p1 - (k - 1) * p0) / k;
        p0 = p1;
        p1 = pk;
    }
    *p = n == 0 ? 1 : p1;
    *dp = n == 0 ? 0 : n * (x * p1 - p0) / (x * x - 1);
}

void saliency_quadrature(double *alpha, double *weight, int n, enum saliency_quadrature q)
{
    SB_ASSERT(n >= 1);
    if (q == SALIENCY_QUAD_GAUSSLEGENDRE) {
        for (int i = 0; i < n; i++) {
            /* Newton from the Tricomi estimate; node i counts down from +1. */
            double x = cos(M_PI * (i + 0.75) / (n + 0.5)), p, dp;
            for (int it = 0; it < 100; it++) {
                legendre(n, x, &p, &dp);
                double dx = p / dp;
                x -= dx;
                if (fabs(dx) < 1e-16) break;
            }
            legendre(n, x, &p, &dp);
            double w = 2 / ((1 - x * x) * dp * dp);
            alpha[n - 1 - i] = (1 + x) / 2;
            weight[n - 1 - i] = w / 2;
        }
        if (n == 1) alpha[0] = 0.5, weight[0] = 1;
        return;
    }
    SB_ASSERT(n >= 2);
    for (int i = 0; i < n; i++) {
        weight[i] = 1.0 / n;
        switch (q) {
        case SALIENCY_QUAD_RIEMANN_LEFT: alpha[i] = (1 - 1.0 / n) * i / (n - 1); break;
        case SALIENCY_QUAD_RIEMANN_RIGHT: alpha[i] = 1.0 / n + (1 - 1.0 / n) * i / (n - 1); break;
        case SALIENCY_QUAD_RIEMANN_MIDDLE:
            alpha[i] = 0.5 / n + (1 - 1.0 / n) * i / (n - 1);
            break;
        default: alpha[i] = (double)i / (n - 1); break;
        }
    }
    if (q == SALIENCY_QUAD_RIEMANN_TRAPEZOID) weight[0] /= 2, weight[n - 1] /= 2;
}

struct path_bufs {
    double *alpha, *weight; /* IG: [steps] (carved as floats) */
    float *seed;            /* [max_batch, K] */
    float *acc1, *acc2;     /* [K, C, HW] per-trial accumulators */
    float *base;            /* [C, HW] IG baseline */
    int ig, total;          /* total images per example (steps or samples) */
};

static int plan(const struct sal_run *r, struct sal_carve *w, struct path_bufs *b)
{
    memset(b, 0, sizeof *b);
    b->ig = r->p->method == SALIENCY_INTEGRATED_GRADIENTS;
    b->total = b->ig ? r->p->steps : r->p->samples;
    if (b->ig && b->total < 2 && r->p->quadrature != SALIENCY_QUAD_GAUSSLEGENDRE)
        return err_set("cannot plan 'integrated_gradients': riemann rules need steps > 1");
    size_t chw = (size_t)r->C * r->HW;
    b->alpha = (double *)(void *)sal_take(w, 2 * (size_t)b->total);
    b->weight = (double *)(void *)sal_take(w, 2 * (size_t)b->total);
    b->seed = sal_take(w, (size_t)r->max_batch * r->K);
    b->acc1 = sal_take(w, (size_t)r->K * chw);
    if (!b->ig) b->acc2 = sal_take(w, (size_t)r->K * chw);
    b->base = sal_take(w, chw);
    if (b->alpha && b->ig)
        saliency_quadrature(b->alpha, b->weight, b->total,
                            (enum saliency_quadrature)r->p->quadrature);
    return 0;
}

/* Image i of the example into slot `slot` of the net input. */
static void make_input(const struct sal_run *r, const struct path_bufs *b, const float *x,
                       uint64_t id, double sigma, int i, float *dst)
{
    size_t chw = (size_t)r->C * r->HW;
    if (b->ig) {
        float a = (float)b->alpha[i];
        for (size_t k = 0; k < chw; k++)
            dst[k] = b->base[k] + a * (x[k] - b->base[k]);
        return;
    }
    struct rng g;
    stats_rng_sub(&g, r->p->seed, id, SALIENCY_RNG_BASE + r->p->method, (uint32_t)i);
    for (size_t k = 0; k < chw; k++)
        dst[k] = x[k] + (float)(sigma * rng_normal(&g));
}

/* Adds the input gradients of images [0, nb) (steps s0..) into trial j's accumulators. */
static void accumulate(const struct sal_run *r, const struct path_bufs *b, int j, int s0,
                       int nb)
{
    size_t chw = (size_t)r->C * r->HW;
    const float *g = net_grad(r->net, 0).data;
    float *a1 = b->acc1 + (size_t)j * chw, *a2 = b->acc2 ? b->acc2 + (size_t)j * chw : NULL;
    int take_abs = r->p->abs;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(r->nthreads)
#endif
    for (size_t k = 0; k < chw; k++) {
        float s1 = a1[k], s2 = a2 ? a2[k] : 0;
        for (int i = 0; i < nb; i++) {
            float v = g[(size_t)i * chw + k];
            if (b->ig) {
                s1 += (float)b->weight[s0 + i] * v;
                continue;
            }
            if (take_abs) v = fabsf(v);
            s1 += v;
            s2 += v * v;
        }
        a1[k] = s1;
        if (a2) a2[k] = s2;
    }
}

/* Final attribution of trial j into acc1 (per channel), then reduced into map. */
static void finish(const struct sal_run *r, const struct path_bufs *b, const float *x, int j,
                   float *map)
{
    size_t chw = (size_t)r->C * r->HW;
    float *a1 = b->acc1 + (size_t)j * chw, *a2 = b->acc2 ? b->acc2 + (size_t)j * chw : NULL;
    float inv = 1.0f / (float)b->total;
    for (size_t k = 0; k < chw; k++) {
        switch (r->p->method) {
        case SALIENCY_INTEGRATED_GRADIENTS: a1[k] *= x[k] - b->base[k]; break;
        case SALIENCY_SMOOTHGRAD: a1[k] *= inv; break;
        case SALIENCY_SMOOTHGRAD_SQ: a1[k] = a2[k] * inv; break;
        default: {
            float m = a1[k] * inv;
            a1[k] = a2[k] * inv - m * m;
        }
        }
    }
    sal_reduce(map, a1, NULL, 1, r->C, r->HW, (enum saliency_reduce)r->p->reduce, 1);
}

static double noise_sigma(const struct sal_run *r, const float *x)
{
    if (r->p->stdev > 0) return r->p->stdev;
    size_t chw = (size_t)r->C * r->HW;
    float lo = x[0], hi = x[0];
    for (size_t k = 1; k < chw; k++) {
        lo = x[k] < lo ? x[k] : lo;
        hi = x[k] > hi ? x[k] : hi;
    }
    return r->p->noise * ((double)hi - (double)lo);
}

static int run_example(struct sal_run *r, struct path_bufs *b, int t0, int k, float *maps)
{
    const struct saliency_input *in = r->in;
    size_t chw = (size_t)r->C * r->HW;
    int e = in->example[t0];
    const float *x = in->x + (size_t)e * chw;
    double sigma = b->ig ? 0 : noise_sigma(r, x);
    float *inp = net_act(r->net, 0).data;
    for (size_t q = 0; q < chw; q++)
        b->base[q] = r->p->baseline == SALIENCY_BASE_BLACK ? in->black[q / r->HW] : 0.0f;
    memset(b->acc1, 0, sizeof(float) * (size_t)k * chw);
    if (b->acc2) memset(b->acc2, 0, sizeof(float) * (size_t)k * chw);
    for (int s0 = 0; s0 < b->total; s0 += r->max_batch) {
        int nb = b->total - s0 < r->max_batch ? b->total - s0 : r->max_batch;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(r->nthreads)
#endif
        for (int i = 0; i < nb; i++)
            make_input(r, b, x, in->ids[e], sigma, s0 + i, inp + (size_t)i * chw);
        if (net_forward(r->net, NULL, nb, NET_EVAL, NULL) < 0) return -1;
        for (int j = 0; j < k; j++) {
            memset(b->seed, 0, sizeof(float) * (size_t)nb * r->K);
            for (int i = 0; i < nb; i++)
                b->seed[(size_t)i * r->K + in->cls[t0 + j]] = 1.0f;
            if (net_backward(r->net, nb, NULL, b->seed, NULL, NULL, NET_GRAD_INPUT) < 0)
                return -1;
            accumulate(r, b, j, s0, nb);
        }
        sal_count(r, (uint64_t)nb, (uint64_t)nb * k);
    }
    for (int j = 0; j < k; j++)
        finish(r, b, x, j, maps + (size_t)(t0 + j) * r->HW);
    return 0;
}

int sal_path_run(struct sal_run *r, float *maps, struct sal_carve *w)
{
    struct path_bufs b;
    if (plan(r, w, &b) < 0) return -1;
    if (!r->in) return 0;
    for (int t0 = 0; t0 < r->in->t;) {
        int k = sal_example_trials(r->in, t0);
        if (run_example(r, &b, t0, k, maps) < 0) return -1;
        t0 += k;
    }
    return 0;
}
