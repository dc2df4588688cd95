/* The two control "methods" every results table should show: center (a centred Gaussian
 * map; the pointing game's TorchRay center baseline points at the image centre) and random
 * (uniform noise from the counter-based RNG, one stream per example and class). Neither runs
 * the model. */
#include <math.h>

#include "pipeline/rng.h"
#include "pipeline/saliency_internal.h"
#include "pipeline/stats.h"

/* map(y, x) = exp(-d^2 / (2 sigma^2)), d the distance from the pixel centre (x + 0.5,
 * y + 0.5) to the image centre (W/2, H/2); sigma = p->sigma * min(H, W). */
int sal_center_run(struct sal_run *r, float *maps, struct sal_carve *w)
{
    (void)w;
    if (!r->in) return 0;
    int H = r->H, W = r->W;
    double sigma = r->p->sigma * (H < W ? H : W);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double dy = y + 0.5 - H / 2.0, dx = x + 0.5 - W / 2.0;
            maps[(size_t)y * W + x] = (float)exp(-(dx * dx + dy * dy) / (2 * sigma * sigma));
        }
    for (int t = 1; t < r->in->t; t++)
        for (int i = 0; i < r->HW; i++)
            maps[(size_t)t * r->HW + i] = maps[i];
    return 0;
}

/* map = U[0, 1) per pixel, row-major, from stream (seed, example_id, SALIENCY_RNG_BASE +
 * random, class). */
int sal_random_run(struct sal_run *r, float *maps, struct sal_carve *w)
{
    (void)w;
    if (!r->in) return 0;
    const struct saliency_input *in = r->in;
    /* ~40 us per map: threads pay only for many trials */
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(r->nthreads) if (in->t >= 64)
#endif
    for (int t = 0; t < in->t; t++) {
        struct rng g;
        stats_rng_sub(&g, r->p->seed, in->ids[in->example[t]],
                      SALIENCY_RNG_BASE + SALIENCY_RANDOM, (uint32_t)in->cls[t]);
        for (int i = 0; i < r->HW; i++)
            maps[(size_t)t * r->HW + i] = rng_uniform(&g);
    }
    return 0;
}
